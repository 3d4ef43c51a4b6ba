"""The event queue: Redis Streams with a consumer group, or an in-process queue.

One small interface. A payload is a JSON array of records (so payloads can be merged).
`publish` returns only once the payload is durable:
- Redis: after XADD is acknowledged by the server (durability is Redis's AOF setting).
- In-process: after the ingest worker in this process has committed the payload to the
  database and acknowledged it (a group commit of a few ms), because memory is not durable.
Consumers get at-least-once delivery; writes downstream are idempotent by event id.

Visitor affinity: a payload published for a visitor (site, visitor hash) goes to one of
`slices` streams, chosen by `visitor_slice`, and each slice is read by one worker at a time,
the holder of its lease (SliceLeases). So one visitor's events are always written by one
worker, which can then keep that visitor's open session in memory. The in-process queue has
one consumer and needs no slices.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
import uuid
import zlib
from collections import defaultdict, deque
from collections.abc import Awaitable, Collection, Sequence
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
    slice: int = 0  # the slice (stream) it was read from; 0 in the in-process queue


# Each site's checksum, made once per process: a collector publishes per request, a worker
# places each session. Site ids only: those of registered sites, a bounded set.
_SITE_CRCS: dict[str, int] = {}


def visitor_slice(site_id: str, visitor_hash: int, slices: int) -> int:
    """The slice a visitor's events travel in: the same in every process (no salted hash)."""
    site_crc = _SITE_CRCS.get(site_id)
    if site_crc is None:
        site_crc = _SITE_CRCS[site_id] = zlib.crc32(site_id.encode())
    return (visitor_hash + site_crc) % slices


class EventQueue(Protocol):
    def publish(self, payload: bytes, *, visitor: tuple[str, int] | None = None) -> Awaitable[None]:
        """Queue a payload, done when awaited; `visitor` (site, visitor hash): whose events
        it holds, for affinity (one visitor's payloads are read by one consumer)."""

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

    async def publish(self, payload: bytes, *, visitor: tuple[str, int] | None = None) -> None:
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


def stream_name(prefix: str, slice_: int) -> str:
    """Slice 0 keeps the name of the single stream before slices (entries queued by an
    older release are still read); slice i > 0 is `{prefix}:events:{i}`."""
    return f"{prefix}:events" if slice_ == 0 else f"{prefix}:events:{slice_}"


@dataclass(slots=True)
class _SliceState:
    """What a consumer remembers about reading one slice's stream."""

    group_ready: bool = False
    pending_done: bool = False  # its own pending entries re-read (after a restart)
    takeover: bool = False  # just leased: take every pending entry over, whoever holds it
    claim_cursor: str = "0-0"
    next_claim: float = 0.0


class RedisStreamQueue:
    """Redis Streams, one per slice, each read by one consumer group; each worker is a
    named consumer.

    Publishing is a group commit: payloads published while one XADD is in flight are merged
    into the next entry of their slice's stream (payloads are JSON arrays, so merging is
    concatenation), and every publisher returns when the entry holding its payload is
    acknowledged by Redis. One round trip then serves many requests; it also reads the
    streams' lengths for backpressure (the limit is on their sum).

    A consumer reads the slices it was given (`read_slices`, from its leases; all of them
    when never given, as a single consumer or a tool does). In each it first re-reads its
    own pending entries (delivered before a crash, never acknowledged), then new ones. A
    slice just given is taken over: every entry pending there, whoever read it, is claimed
    at once with XAUTOCLAIM (its lease says the reader before is gone or fenced).
    Acknowledged entries are deleted from the stream.

    Entries left pending by a consumer that died and is not coming back (a replica scaled
    away, a renamed worker) are also taken over with XAUTOCLAIM once idle for
    `claim_idle_ms`; consumers with nothing pending that stayed idle that long are then
    removed from the group (atomically re-checked, so an entry is never dropped with its
    consumer). Writes are idempotent by event id, so a repeated delivery costs some
    repeated work, never a duplicate.
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
        slices: int = 1,
    ) -> None:
        self._redis = redis
        self.slices = slices
        self._streams = [stream_name(prefix, index) for index in range(slices)]
        self._state = [_SliceState() for _ in range(slices)]
        self._reading: tuple[int, ...] = tuple(range(slices))
        self._consumer = consumer
        self._claim_idle_ms = claim_idle_ms
        self._forget_if_idle = redis.register_script(self._FORGET_IF_IDLE)
        self._max_entries = max_entries
        self._length = 0
        self._length_checked = 0.0
        self._outbox: list[tuple[bytes, int, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._publisher: Connection | None = None  # the flusher's own connection
        self._loop: asyncio.AbstractEventLoop | None = None  # the one this queue publishes in

    def read_slices(self, slices: Collection[int]) -> None:
        """Read only these slices from now on; those new to the set are taken over."""
        for index in set(slices) - set(self._reading):
            state = self._state[index]
            state.takeover, state.claim_cursor = True, "0-0"
        self._reading = tuple(sorted(slices))

    async def _ensure_group(self, index: int) -> None:
        state = self._state[index]
        if state.group_ready:
            return
        try:
            # id 0, not $: entries published before the group existed are still delivered.
            await self._redis.xgroup_create(self._streams[index], self.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        state.group_ready = True

    def publish(self, payload: bytes, *, visitor: tuple[str, int] | None = None) -> Awaitable[None]:
        """The future of the entry the payload goes into, while the streams have room. Not a
        coroutine function: a request's task awaits that future itself, one coroutine less
        in the chain its task passes through again when the entry is acknowledged. (Every
        /e request passes through here: kept to one call, visitor_slice's.)"""
        if self._length >= self._max_entries:
            return self._publish_when_room(payload, visitor)
        loop = self._loop
        if loop is None:
            # Asked once: on CPython 3.11 every get_running_loop() makes a getpid() system
            # call. A queue serves one loop anyway (its publisher connection belongs to it).
            loop = self._loop = asyncio.get_running_loop()
        future = loop.create_future()
        index = 0 if visitor is None or self.slices == 1 else visitor_slice(*visitor, self.slices)
        self._outbox.append((payload, index, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return future

    async def _publish_when_room(self, payload: bytes, visitor: tuple[str, int] | None) -> None:
        await self._recheck_length()  # raises unless the streams have room now
        await self.publish(payload, visitor=visitor)

    async def _recheck_length(self) -> None:
        now = time.monotonic()
        if now - self._length_checked >= self.LENGTH_RECHECK_SECONDS:
            self._length_checked = now
            try:
                self._length = await self.depth()
            except RedisError as exc:
                raise QueueUnavailable(f"redis: {type(exc).__name__}") from None
        if self._length >= self._max_entries:
            raise QueueUnavailable("event stream is full")

    async def _flush(self) -> None:
        while self._outbox:
            taken, self._outbox = self._outbox, []
            by_slice: dict[int, list[bytes]] = defaultdict(list)
            for payload, index, _ in taken:
                by_slice[index].append(payload)
            commands: list[tuple[str | bytes, ...]] = [
                ("XADD", self._streams[index], "*", "p", merge_json_arrays(part))
                for index, payloads in by_slice.items()
                for part in (
                    payloads[start : start + self.MAX_PAYLOADS_PER_ENTRY]
                    for start in range(0, len(payloads), self.MAX_PAYLOADS_PER_ENTRY)
                )
            ]
            added = len(commands)
            # The length for backpressure: counted up from the last XLENs, which are asked
            # again at most every LENGTH_RECHECK_SECONDS (replies less to read on most
            # flushes). The count only overestimates (the worker deletes what it
            # acknowledges), so a full queue is never missed; a stale "full" is rechecked
            # before refusing.
            now = time.monotonic()
            recheck = now - self._length_checked >= self.LENGTH_RECHECK_SECONDS
            if recheck:
                commands.extend(("XLEN", stream) for stream in self._streams)
            try:
                replies = await self._publish_commands(commands)
                if recheck:
                    self._length = sum(int(reply) for reply in replies[added:])
                    self._length_checked = now
                else:
                    self._length += added
                error: Exception | None = None
            except RedisError as exc:
                error = QueueUnavailable(f"redis: {type(exc).__name__}")
            except Exception as exc:  # anything else too: no publisher is left waiting
                error = exc
            for _, _, future in taken:
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
        reading = self._reading
        if not reading:
            await asyncio.sleep(block_ms / 1000)
            return []
        try:
            for index in reading:
                await self._ensure_group(index)
                batch = await self._catch_up(index, count)
                if batch:
                    return batch
            for index in reading:
                batch = await self._claim_abandoned(index, count)
                if batch:
                    return batch
            # COUNT is per stream: a share of the batch from each, then the rest of the
            # batch from the streams that filled their share (they may hold more).
            share = -(-count // len(reading))
            response = await self._redis.xreadgroup(
                self.GROUP,
                self._consumer,
                {self._streams[index]: ">" for index in reading},
                count=share,
                block=block_ms,
            )
            batch = self._deliveries(response)
            replies: list[tuple[bytes, list[Any]]] = response or []  # type: ignore[assignment]
            full = [_text(stream) for stream, entries in replies if len(entries) >= share]
            if full and len(batch) < count:
                more = await self._redis.xreadgroup(
                    self.GROUP, self._consumer, dict.fromkeys(full, ">"), count=count - len(batch)
                )
                batch += self._deliveries(more)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # Redis came back without its data: make the groups again
                for state in self._state:
                    state.group_ready = state.pending_done = False
            raise
        return batch

    async def _catch_up(self, index: int, count: int) -> list[Delivery]:
        """A slice's entries read before and not acknowledged: every one pending in it when
        the slice was just taken over, else this consumer's own (after a restart)."""
        state, stream = self._state[index], self._streams[index]
        if state.takeover:
            reply = await self._redis.xautoclaim(
                stream,
                self.GROUP,
                self._consumer,
                min_idle_time=0,
                start_id=state.claim_cursor,
                count=count,
            )
            cursor = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
            state.claim_cursor = cursor
            if cursor == "0-0":
                state.takeover, state.pending_done = False, True
            batch = self._deliveries([(stream, reply[1])])
            if batch:
                log.info("took over a slice's pending entries", extra={"entries": len(batch)})
            return batch
        if state.pending_done:
            return []
        response = await self._redis.xreadgroup(
            self.GROUP, self._consumer, {stream: "0"}, count=count
        )
        batch = self._deliveries(response)
        if not batch:
            state.pending_done = True
        return batch

    async def _claim_abandoned(self, index: int, count: int) -> list[Delivery]:
        """Entries pending with other consumers for longer than the claim idle time."""
        state, stream = self._state[index], self._streams[index]
        now = time.monotonic()
        if now < state.next_claim:
            return []
        reply = await self._redis.xautoclaim(
            stream,
            self.GROUP,
            self._consumer,
            min_idle_time=self._claim_idle_ms,
            start_id=state.claim_cursor,
            count=count,
        )
        cursor = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        batch = self._deliveries([(stream, reply[1])])
        if cursor == "0-0":  # the whole pending list was scanned: rest a while
            state.next_claim = now + self._claim_idle_ms / 2000
            await self._forget_idle_consumers(index)
        state.claim_cursor = cursor
        if batch:
            log.info("claimed abandoned entries", extra={"entries": len(batch)})
        return batch

    async def _forget_idle_consumers(self, index: int = 0) -> None:
        stream = self._streams[index]
        for consumer in await self._redis.xinfo_consumers(stream, self.GROUP):
            name = consumer["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            if (
                name != self._consumer
                and int(consumer["pending"]) == 0
                and int(consumer["idle"]) >= self._claim_idle_ms
            ):
                forgotten = await self._forget_if_idle(keys=[stream], args=[self.GROUP, name])
                if forgotten == 0:
                    log.info("removed an idle consumer from the group", extra={"consumer": name})

    async def consumers(self) -> dict[str, int]:
        """Each consumer of the groups with its count of pending entries (all slices)."""
        found: dict[str, int] = defaultdict(int)
        for index, stream in enumerate(self._streams):
            await self._ensure_group(index)
            for consumer in await self._redis.xinfo_consumers(stream, self.GROUP):
                name = consumer["name"]
                found[name.decode() if isinstance(name, bytes) else str(name)] += int(
                    consumer["pending"]
                )
        return dict(found)

    async def ack(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        by_stream: dict[str, list[str]] = defaultdict(list)
        for delivery_id in ids:
            index, _, entry_id = delivery_id.partition("/")
            by_stream[self._streams[int(index)]].append(entry_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            for stream, entry_ids in by_stream.items():
                pipe.xack(stream, self.GROUP, *entry_ids)
                pipe.xdel(stream, *entry_ids)
            await pipe.execute()

    async def depth(self) -> int:
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream in self._streams:
                pipe.xlen(stream)
            return sum(int(length) for length in await pipe.execute())

    async def oldest_age(self) -> float:
        """Seconds since the oldest entry still in the streams was added (0 when empty).

        Acknowledged entries are deleted, so each stream's first entry is its oldest one
        not yet committed by a worker; its id starts with Redis's clock in milliseconds.
        """
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream in self._streams:
                pipe.xrange(stream, count=1)
            firsts = await pipe.execute()
        added = [int(_text(first[0][0]).split("-", 1)[0]) for first in firsts if first]
        if not added:
            return 0.0
        return max(0.0, time.time() - min(added) / 1000)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._publisher is not None:
            await self._redis.connection_pool.release(self._publisher)
            self._publisher = None

    def _deliveries(self, response: object) -> list[Delivery]:
        batch: list[Delivery] = []
        if not response:
            return batch
        for stream, entries in response:  # type: ignore[attr-defined]
            index = self._streams.index(_text(stream))
            for entry_id, fields in entries:
                if fields is None:  # deleted while pending
                    continue
                batch.append(Delivery(f"{index}/{_text(entry_id)}", fields[b"p"], index))
        return batch


class LeaseLost(Exception):
    """This worker no longer safely holds the lease of a slice it was about to write."""


class SliceLeases:
    """Which slices of the queue this worker reads: one lease per slice, in Redis.

    A lease is a key `{prefix}:lease:{slice}` holding this worker's token, set with
    SET NX PX and renewed (only while it still holds the token) every third of its time to
    live. Workers announce themselves in `{prefix}:workers` (a sorted set scored by expiry)
    so that each takes a fair share, ceil(slices / live workers): one short of it acquires
    free slices, one above it hands the surplus over (the worker stops reading them, writes
    what it read, then releases them). A worker that dies keeps its leases until they
    expire; then the others take its slices, and their pending entries, over.

    Writes are fenced by time: a slice counts as held until a third of the time to live
    before its lease could expire (measured from before the renewal was sent), and a batch
    commits only while each of its slices counts as held (`check`). A worker stalled past
    that fails its commit; the new holder cannot have started before the lease expired.
    """

    _RENEW = """
    local held = {}
    for i, key in ipairs(KEYS) do
      if redis.call('GET', key) == ARGV[1] then
        redis.call('PEXPIRE', key, ARGV[2])
        held[i] = 1
      else
        held[i] = 0
      end
    end
    return held
    """
    _ACQUIRE = """
    local got = {}
    for i, key in ipairs(KEYS) do
      if #got >= tonumber(ARGV[3]) then break end
      if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then table.insert(got, i) end
    end
    return got
    """
    _RELEASE = """
    for _, key in ipairs(KEYS) do
      if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
    end
    return 0
    """

    def __init__(self, redis: Redis, *, prefix: str, slices: int, worker: str, ttl_ms: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self.slices = slices
        self.ttl_ms = ttl_ms
        self.token = f"{worker}/{uuid.uuid4().hex}"
        self._workers = f"{prefix}:workers"
        self._renew = redis.register_script(self._RENEW)
        self._acquire = redis.register_script(self._ACQUIRE)
        self._release = redis.register_script(self._RELEASE)
        # Slices held, each with the monotonic moment until which writing it is safe.
        self.held: dict[int, float] = {}
        self.surplus: set[int] = set()  # held, above the fair share: to hand over
        self.acquired: set[int] = set()  # taken since the loop last looked
        self.lost: set[int] = set()  # held before, not renewed in time: someone else's now
        # Where this worker starts looking for free slices: spread across workers.
        self._start = zlib.crc32(self.token.encode()) % slices

    def _key(self, index: int) -> str:
        return f"{self._prefix}:lease:{index}"

    @property
    def interval(self) -> float:
        """Seconds between renewals."""
        return self.ttl_ms / 3000

    def readable(self) -> set[int]:
        """The slices to read: held, and not being handed over."""
        return set(self.held) - self.surplus

    async def refresh(self) -> None:
        """One round: announce this worker, renew the leases held, then acquire free slices
        up to a fair share or mark the surplus above it."""
        sent = time.monotonic()
        safe_until = sent + self.ttl_ms * 2 / 3000
        now_ms = int(time.time() * 1000)
        held = sorted(self.held)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._workers, {self.token: now_ms + self.ttl_ms})
            pipe.zremrangebyscore(self._workers, "-inf", now_ms)
            pipe.zcard(self._workers)
            replies = await pipe.execute()
        live = max(1, int(replies[2]))
        if held:
            renewed = await self._renew(
                keys=[self._key(index) for index in held], args=[self.token, self.ttl_ms]
            )
            for index, kept in zip(held, renewed, strict=True):
                if int(kept):
                    self.held[index] = safe_until
                else:
                    del self.held[index]
                    self.surplus.discard(index)
                    self.lost.add(index)
                    log.warning("lost a slice's lease", extra={"slice": index})
        fair = -(-self.slices // live)
        wanted = fair - len(self.held)
        if wanted > 0:
            free = [
                index
                for offset in range(self.slices)
                if (index := (self._start + offset) % self.slices) not in self.held
            ]
            got = await self._acquire(
                keys=[self._key(index) for index in free],
                args=[self.token, self.ttl_ms, wanted],
            )
            for position in got:
                index = free[int(position) - 1]
                self.held[index] = safe_until
                self.acquired.add(index)
                self.lost.discard(index)
            self.surplus.clear()
        elif wanted < 0:
            # Hand over the last ones in this worker's order, keep the rest.
            mine = sorted(self.held, key=lambda index: (index - self._start) % self.slices)
            self.surplus = set(mine[fair:])
        else:
            self.surplus.clear()

    def check(self, slices: Collection[int]) -> None:
        """Raise LeaseLost unless every one of these slices is safely held right now."""
        now = time.monotonic()
        for index in slices:
            until = self.held.get(index)
            if until is None or now >= until:
                raise LeaseLost(f"slice {index}")

    async def release(self, slices: Collection[int]) -> None:
        """Give these slices up (only where this worker still holds the lease)."""
        slices = list(slices)  # it may be one of this object's own sets
        if not slices:
            return
        for index in slices:
            self.held.pop(index, None)
            self.surplus.discard(index)
        await self._release(keys=[self._key(index) for index in slices], args=[self.token])

    async def close(self) -> None:
        """Give every slice up and leave the set of workers, for the others to take over now."""
        await self.release(list(self.held))
        await self._redis.zrem(self._workers, self.token)


def merge_json_arrays(payloads: Sequence[bytes]) -> bytes:
    """Concatenate JSON arrays without parsing them: [a],[b,c] -> [a,b,c]."""
    if len(payloads) == 1:
        return payloads[0]
    inner = [p[1:-1] for p in map(bytes.strip, payloads) if len(p) > 2]  # each stripped once
    return b"[" + b",".join(inner) + b"]"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
