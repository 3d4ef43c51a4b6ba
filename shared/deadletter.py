"""The ingest worker's dead letter: queue entries that failed alone while the database worked.

It lives beside the queue. With Redis: the stream `{prefix}:deadletter` (one entry per dead
letter, oldest first, readable with any Redis tool) and the hash `{prefix}:deadletter:ids`
from each dead letter's id to its stream entry. With the in-process queue, whose memory is
not durable: the `ingest_dead_letters` table.

A dead letter's id is a hash of its payload, so putting the same payload twice (a worker
that crashed after dead-lettering it, before acknowledging its entry, sees it again) keeps
one. The payload is the operator's data: `overt deadletter show` prints it to their
terminal; nothing here logs it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.dialect import is_duplicate_key, root_error
from shared.models import dead_letters
from shared.queue import RedisStreamQueue
from shared.runtime import Resources

ERROR_LENGTH = 300


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    """A payload (a JSON array of queue records) the worker could not store, and why."""

    id: str
    payload: bytes
    delivery_id: str  # the queue entry it came from
    error_type: str
    error: str
    failed_at: datetime


def dead_letter(payload: bytes, delivery_id: str, error: BaseException) -> DeadLetterEntry:
    """The dead letter of `payload` refused with `error`: the driver's error type and the
    first line of its message, shortened (it may quote a value: the operator's data, stored
    with the payload, never logged)."""
    root = root_error(error)
    message = (str(root).strip().splitlines() or [""])[0].replace("\x00", "")
    return DeadLetterEntry(
        id=hashlib.sha256(payload).hexdigest()[:32],
        payload=payload,
        delivery_id=delivery_id[:64],
        error_type=type(root).__name__[:128],
        error=message[:ERROR_LENGTH],
        failed_at=datetime.now(UTC),
    )


class DeadLetters(Protocol):
    async def put(self, entry: DeadLetterEntry) -> bool:
        """Keep `entry`; False if one with its id is kept already."""
        ...

    async def entries(self) -> list[DeadLetterEntry]:
        """Every dead letter, oldest first."""
        ...

    async def get(self, entry_id: str) -> DeadLetterEntry | None: ...

    async def remove(self, entry_ids: Sequence[str]) -> int:
        """Forget these dead letters; returns how many there were."""
        ...


class TableDeadLetters:
    """The `ingest_dead_letters` table (the embedded mode's in-process queue)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def put(self, entry: DeadLetterEntry) -> bool:
        row = {
            "id": entry.id,
            "payload": entry.payload,
            "delivery_id": entry.delivery_id,
            "error_type": entry.error_type,
            "error": entry.error,
            "failed_at": entry.failed_at,
        }
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(dead_letters), [row])
        except Exception as exc:
            if is_duplicate_key(exc):
                return False
            raise
        return True

    async def entries(self) -> list[DeadLetterEntry]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(dead_letters).order_by(dead_letters.c.failed_at, dead_letters.c.id)
            )
            return [_from_row(row._mapping) for row in rows]

    async def get(self, entry_id: str) -> DeadLetterEntry | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(dead_letters).where(dead_letters.c.id == entry_id))
            ).first()
        return None if row is None else _from_row(row._mapping)

    async def remove(self, entry_ids: Sequence[str]) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(dead_letters).where(dead_letters.c.id.in_(list(entry_ids)))
            )
        return int(result.rowcount)


def _from_row(row: object) -> DeadLetterEntry:
    values = dict(row)  # type: ignore[call-overload]
    return DeadLetterEntry(
        id=values["id"],
        payload=bytes(values["payload"]),
        delivery_id=values["delivery_id"],
        error_type=values["error_type"],
        error=values["error"],
        failed_at=values["failed_at"],
    )


class RedisDeadLetters:
    """The stream `{prefix}:deadletter` and its index by id (see the module's docstring)."""

    # Add the entry unless its id is indexed already; 1 if added.
    _PUT = """
    if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
    local at = redis.call('XADD', KEYS[1], '*', 'id', ARGV[1], 'p', ARGV[2], 'delivery', ARGV[3],
        'type', ARGV[4], 'error', ARGV[5], 'at', ARGV[6])
    redis.call('HSET', KEYS[2], ARGV[1], at)
    return 1
    """
    # Remove the entries of these ids; returns how many there were.
    _REMOVE = """
    local removed = 0
    for _, id in ipairs(ARGV) do
        local at = redis.call('HGET', KEYS[2], id)
        if at then
            redis.call('XDEL', KEYS[1], at)
            redis.call('HDEL', KEYS[2], id)
            removed = removed + 1
        end
    end
    return removed
    """

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self.redis = redis
        self.keys = [f"{prefix}:deadletter", f"{prefix}:deadletter:ids"]
        self._put = redis.register_script(self._PUT)
        self._remove = redis.register_script(self._REMOVE)

    async def put(self, entry: DeadLetterEntry) -> bool:
        added = await self._put(
            keys=self.keys,
            args=[
                entry.id,
                entry.payload,
                entry.delivery_id,
                entry.error_type,
                entry.error,
                str(int(entry.failed_at.timestamp() * 1000)),
            ],
        )
        return bool(added)

    async def entries(self) -> list[DeadLetterEntry]:
        found = await self.redis.xrange(self.keys[0]) or []
        return [_from_fields(fields) for _, fields in found if fields]

    async def get(self, entry_id: str) -> DeadLetterEntry | None:
        at = await self.redis.hget(self.keys[1], entry_id)
        if at is None:
            return None
        found = await self.redis.xrange(self.keys[0], min=at, max=at)
        return _from_fields(found[0][1]) if found and found[0][1] else None

    async def remove(self, entry_ids: Sequence[str]) -> int:
        if not entry_ids:
            return 0
        return int(await self._remove(keys=self.keys, args=list(entry_ids)))


def _from_fields(raw: Mapping[bytes | str, bytes | str]) -> DeadLetterEntry:
    fields = {
        (key.encode() if isinstance(key, str) else key): (
            value.encode() if isinstance(value, str) else value
        )
        for key, value in raw.items()
    }
    return DeadLetterEntry(
        id=fields[b"id"].decode(),
        payload=fields[b"p"],
        delivery_id=fields[b"delivery"].decode(),
        error_type=fields[b"type"].decode(),
        error=fields[b"error"].decode(errors="replace"),
        failed_at=datetime.fromtimestamp(int(fields[b"at"]) / 1000, UTC),
    )


def open_dead_letters(resources: Resources) -> DeadLetters:
    """The dead letter beside the process's queue: Redis's, or the database's table."""
    if resources.redis is not None and isinstance(resources.queue, RedisStreamQueue):
        return RedisDeadLetters(resources.redis, prefix=resources.settings.redis_prefix)
    return TableDeadLetters(resources.engine)
