"""The event queue: Redis Streams with a consumer group, or an in-process queue.

One small interface. A payload is a JSON array of records (so payloads can be merged).
`publish` returns only once the payload is durable:
- Redis: after XADD is acknowledged by the server (durability is Redis's AOF setting).
- In-process: after the ingest worker in this process has committed the payload to the
  database and acknowledged it (a group commit of a few ms), because memory is not durable.
Consumers get at-least-once delivery; writes downstream are idempotent by event id.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.asyncio import Connection, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("overt.queue")


class QueueUnavailable(Exception):
    """The queue cannot take the payload now (full, down or too slow); the caller answers 503."""


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    payload: bytes


class EventQueue(Protocol):
    async def publish(self, payload: bytes) -> None: ...

    async def consume(self, *, count: int, block_ms: int) -> list[Delivery]: ...

    async def ack(self, ids: Sequence[str]) -> None: ...

    async def depth(self) -> int: ...

    async def oldest_age(self) -> float: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Entry:
    id: str
    payload: bytes
    done: asyncio.Future[None] = field(repr=False)
    queued_at: float = field(default_factory=time.time)


class InProcessQueue:
    """A bounded in-memory queue whose publishers wait for the consumer's acknowledgement."""

    def __init__(self, *, max_pending: int = 100_000, publish_timeout: float = 10.0) -> None:
        self._waiting: deque[_Entry] = deque()
        self._in_flight: dict[str, _Entry] = {}
        self._ids = itertools.count(1)
        self._ready = asyncio.Event()
        self._max_pending = max_pending
        self._publish_timeout = publish_timeout

    async def publish(self, payload: bytes) -> None:
        if len(self._waiting) + len(self._in_flight) >= self._max_pending:
            raise QueueUnavailable("in-process queue is full")
        entry = _Entry(str(next(self._ids)), payload, asyncio.get_running_loop().create_future())
        self._waiting.append(entry)
        self._ready.set()
        try:
            await asyncio.wait_for(asyncio.shield(entry.done), self._publish_timeout)
        except TimeoutError:
            # Still queued and will be written; the client may retry (writes are idempotent).
            raise QueueUnavailable("ingest did not commit in time") from None

    async def consume(self, *, count: int, block_ms: int) -> list[Delivery]:
        if not self._waiting:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), block_ms / 1000)
            except TimeoutError:
                return []
        batch: list[Delivery] = []
        while self._waiting and len(batch) < count:
            entry = self._waiting.popleft()
            self._in_flight[entry.id] = entry
            batch.append(Delivery(entry.id, entry.payload))
        return batch

    async def ack(self, ids: Sequence[str]) -> None:
        for delivery_id in ids:
            entry = self._in_flight.pop(delivery_id, None)
            if entry is not None and not entry.done.done():
                entry.done.set_result(None)

    async def depth(self) -> int:
        return len(self._waiting) + len(self._in_flight)

    async def oldest_age(self) -> float:
        """Seconds since the oldest unacknowledged payload was published (0 when none)."""
        oldest = min(
            (entry.queued_at for entry in (*self._waiting, *self._in_flight.values())),
            default=None,
        )
        return 0.0 if oldest is None else max(0.0, time.time() - oldest)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        for entry in [*self._waiting, *self._in_flight.values()]:
            if not entry.done.done():
                entry.done.set_exception(QueueUnavailable("shutting down"))
        self._waiting.clear()
        self._in_flight.clear()


class RedisStreamQueue:
    """A Redis Stream read by one consumer group; each worker is a named consumer.

    Publishing is a group commit: payloads published while one XADD is in flight are merged
    into the next entry (payloads are JSON arrays, so merging is concatenation), and every
    publisher returns when the entry holding its payload is acknowledged by Redis. One round
    trip then serves many requests; it also reads the stream length for backpressure.

    A consumer first re-reads its own pending entries (delivered before a crash, never
    acknowledged), then new ones. Acknowledged entries are deleted from the stream.

    Entries left pending by a consumer that died and is not coming back (a replica scaled
    away, a renamed worker) are taken over with XAUTOCLAIM once idle for `claim_idle_ms`;
    consumers with nothing pending that stayed idle that long are then removed from the
    group (atomically re-checked, so an entry is never dropped with its consumer). A slow
    batch may be claimed while its first reader still works on it: writes are idempotent by
    event id, so the cost is some repeated work, never a duplicate.
    """

    GROUP = "ingest"
    MAX_PAYLOADS_PER_ENTRY = 1000
    LENGTH_RECHECK_SECONDS = 0.5
    # Remove a consumer only if, at that instant, it still has nothing pending.
    _FORGET_IF_IDLE = """
    if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return -1 end
    return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        consumer: str,
        max_entries: int = 100_000,
        claim_idle_ms: int = 60_000,
    ) -> None:
        self._redis = redis
        self._stream = f"{prefix}:events"
        self._consumer = consumer
        self._group_ready = False
        self._pending_done = False
        self._claim_idle_ms = claim_idle_ms
        self._claim_cursor = "0-0"
        self._next_claim = 0.0
        self._forget_if_idle = redis.register_script(self._FORGET_IF_IDLE)
        self._max_entries = max_entries
        self._length = 0
        self._length_checked = 0.0
        self._outbox: list[tuple[bytes, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._publisher: Connection | None = None  # the flusher's own connection
        self._loop: asyncio.AbstractEventLoop | None = None  # the one this queue publishes in

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            # id 0, not $: entries published before the group existed are still delivered.
            await self._redis.xgroup_create(self._stream, self.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def publish(self, payload: bytes) -> None:
        if self._length >= self._max_entries:
            await self._recheck_length()
        loop = self._loop
        if loop is None:
            # Asked once: on CPython 3.11 every get_running_loop() makes a getpid() system
            # call. A queue serves one loop anyway (its publisher connection belongs to it).
            loop = self._loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._outbox.append((payload, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def _recheck_length(self) -> None:
        now = time.monotonic()
        if now - self._length_checked >= self.LENGTH_RECHECK_SECONDS:
            self._length_checked = now
            try:
                self._length = int(await self._redis.xlen(self._stream))
            except RedisError as exc:
                raise QueueUnavailable(f"redis: {type(exc).__name__}") from None
        if self._length >= self._max_entries:
            raise QueueUnavailable("event stream is full")

    async def _flush(self) -> None:
        while self._outbox:
            taken, self._outbox = self._outbox, []
            commands: list[tuple[str | bytes, ...]] = [
                ("XADD", self._stream, "*", "p", merge_json_arrays([p for p, _ in part]))
                for part in (
                    taken[start : start + self.MAX_PAYLOADS_PER_ENTRY]
                    for start in range(0, len(taken), self.MAX_PAYLOADS_PER_ENTRY)
                )
            ]
            # The length for backpressure: counted up from the last XLEN, which is asked again
            # at most every LENGTH_RECHECK_SECONDS (a reply less to read on most flushes). The
            # count only overestimates (the worker deletes what it acknowledges), so a full
            # stream is never missed; a stale "full" is rechecked before refusing.
            now = time.monotonic()
            recheck = now - self._length_checked >= self.LENGTH_RECHECK_SECONDS
            if recheck:
                commands.append(("XLEN", self._stream))
            try:
                replies = await self._publish_commands(commands)
                if recheck:
                    self._length = int(replies[-1])
                    self._length_checked = now
                else:
                    self._length += len(commands)
                error: Exception | None = None
            except RedisError as exc:
                error = QueueUnavailable(f"redis: {type(exc).__name__}")
            except Exception as exc:  # anything else too: no publisher is left waiting
                error = exc
            for _, future in taken:
                if future.done():  # the request was cancelled meanwhile
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    async def _publish_commands(self, commands: list[tuple[str | bytes, ...]]) -> list[Any]:
        """Send commands in one write and read their replies, on a connection the flusher
        keeps (one flusher runs at a time), under one timeout for the lot (the socket
        timeout's length). redis-py's pipeline object costs more CPU per flush (a
        connection checkout and release, a command stack, its bookkeeping), and a timeout
        per reply more again. A connection that fails is dropped. One kept from an earlier
        flush may have died meanwhile (Redis restarted, an idle timeout): then the commands
        go once more on a new one (a repeated XADD stores nothing twice: the worker
        deduplicates by event id)."""
        while True:
            kept = self._publisher
            conn = kept or await self._redis.connection_pool.get_connection()  # type: ignore[no-untyped-call]
            self._publisher = conn
            try:
                async with asyncio.timeout(conn.socket_timeout):
                    await conn.send_packed_command(conn.pack_commands(commands))
                    # math.inf: no timeout of its own per reply, the one above holds.
                    return [await conn.read_response(timeout=math.inf) for _ in commands]
            except BaseException as exc:
                self._publisher = None
                await conn.disconnect()
                await self._redis.connection_pool.release(conn)
                if kept is not None and isinstance(exc, RedisConnectionError):
                    continue
                if isinstance(exc, TimeoutError):
                    raise RedisTimeoutError("Timeout publishing to Redis") from None
                raise

    async def consume(self, *, count: int, block_ms: int) -> list[Delivery]:
        await self._ensure_group()
        try:
            if not self._pending_done:
                response = await self._redis.xreadgroup(
                    self.GROUP, self._consumer, {self._stream: "0"}, count=count
                )
                batch = _deliveries(response)
                if batch:
                    return batch
                self._pending_done = True
            batch = await self._claim_abandoned(count)
            if batch:
                return batch
            response = await self._redis.xreadgroup(
                self.GROUP, self._consumer, {self._stream: ">"}, count=count, block=block_ms
            )
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # Redis came back without its data: make the group again
                self._group_ready = False
                self._pending_done = False
            raise
        return _deliveries(response)

    async def _claim_abandoned(self, count: int) -> list[Delivery]:
        """Entries pending with other consumers for longer than the claim idle time."""
        now = time.monotonic()
        if now < self._next_claim:
            return []
        reply = await self._redis.xautoclaim(
            self._stream,
            self.GROUP,
            self._consumer,
            min_idle_time=self._claim_idle_ms,
            start_id=self._claim_cursor,
            count=count,
        )
        cursor = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        batch = _deliveries([(self._stream, reply[1])])
        if cursor == "0-0":  # the whole pending list was scanned: rest a while
            self._next_claim = now + self._claim_idle_ms / 2000
            await self._forget_idle_consumers()
        self._claim_cursor = cursor
        if batch:
            log.info("claimed abandoned entries", extra={"entries": len(batch)})
        return batch

    async def _forget_idle_consumers(self) -> None:
        for consumer in await self._redis.xinfo_consumers(self._stream, self.GROUP):
            name = consumer["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            if (
                name != self._consumer
                and int(consumer["pending"]) == 0
                and int(consumer["idle"]) >= self._claim_idle_ms
            ):
                forgotten = await self._forget_if_idle(keys=[self._stream], args=[self.GROUP, name])
                if forgotten == 0:
                    log.info("removed an idle consumer from the group", extra={"consumer": name})

    async def consumers(self) -> dict[str, int]:
        """Each consumer of the group with its count of pending entries."""
        await self._ensure_group()
        found: dict[str, int] = {}
        for consumer in await self._redis.xinfo_consumers(self._stream, self.GROUP):
            name = consumer["name"]
            found[name.decode() if isinstance(name, bytes) else str(name)] = int(
                consumer["pending"]
            )
        return found

    async def ack(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._stream, self.GROUP, *ids)
            pipe.xdel(self._stream, *ids)
            await pipe.execute()

    async def depth(self) -> int:
        return int(await self._redis.xlen(self._stream))

    async def oldest_age(self) -> float:
        """Seconds since the oldest entry still in the stream was added (0 when empty).

        Acknowledged entries are deleted, so the first entry is the oldest one not yet
        committed by a worker; its id starts with Redis's clock in milliseconds.
        """
        first = await self._redis.xrange(self._stream, count=1)
        if not first:
            return 0.0
        entry_id = str(first[0][0].decode() if isinstance(first[0][0], bytes) else first[0][0])
        added_ms = int(entry_id.split("-", 1)[0])
        return max(0.0, time.time() - added_ms / 1000)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._publisher is not None:
            await self._redis.connection_pool.release(self._publisher)
            self._publisher = None


def merge_json_arrays(payloads: Sequence[bytes]) -> bytes:
    """Concatenate JSON arrays without parsing them: [a],[b,c] -> [a,b,c]."""
    if len(payloads) == 1:
        return payloads[0]
    return b"[" + b",".join(p.strip()[1:-1] for p in payloads if len(p.strip()) > 2) + b"]"


def _deliveries(response: object) -> list[Delivery]:
    batch: list[Delivery] = []
    if not response:
        return batch
    for _stream, entries in response:  # type: ignore[attr-defined]
        for entry_id, fields in entries:
            if fields is None:  # deleted while pending
                continue
            ident = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            batch.append(Delivery(ident, fields[b"p"]))
    return batch
