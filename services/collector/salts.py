"""The daily salt of visitor hashes: random, one per UTC day, shared by every collector, and
destroyed when its day ends, where destroying it is real.

With Redis configured the salt lives there under a key that expires shortly after its day:
Redis forgets it by itself, and no table or WAL ever held it. Without Redis (one process)
it lives in `visitor_salts`, and a rotation erases older days' rows so that they cannot be
read back (shared.dialect.erase_rows; on PostgreSQL the table is also UNLOGGED, migration
0303, so no WAL or WAL archive holds a salt).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.dialect import erase_rows, flush_erased, insert_if_absent, is_postgres
from shared.models import visitor_salts

log = logging.getLogger("overt.collector")

SALT_BYTES = 32
# A day's Redis key outlives its day by this much: a collector whose clock is a little behind
# still finds the salt the others used. Past it, a late asker gets a new random salt, which
# links nothing.
GRACE = timedelta(minutes=5)


def day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), UTC)


class SaltStore(Protocol):
    async def salt_of(self, day: date) -> bytes:
        """The salt of `day`, made by whichever collector asks first."""
        ...


@dataclass(frozen=True, slots=True)
class RedisSalts:
    """Salts in Redis, each expiring `GRACE` after its day ends."""

    redis: Redis
    prefix: str
    engine: AsyncEngine  # to empty the table of salts an earlier version kept there

    async def salt_of(self, day: date) -> bytes:
        key = f"{self.prefix}:visitor-salt:{day.isoformat()}"
        fresh = secrets.token_bytes(SALT_BYTES)
        expires = int((day_end(day) + GRACE).timestamp())
        # SET NX GET: ours if the key was absent, else the value another collector set first.
        earlier = await self.redis.set(key, fresh, nx=True, get=True, exat=expires)
        if earlier is None:
            await _destroy_rows(self.engine)
            return fresh
        assert isinstance(earlier, bytes)  # a client without decode_responses
        return earlier


@dataclass(frozen=True, slots=True)
class DatabaseSalts:
    """Salts in `visitor_salts` (one process without Redis)."""

    engine: AsyncEngine

    async def salt_of(self, day: date) -> bytes:
        async with self.engine.begin() as conn:
            if is_postgres(conn):  # rotations queue up behind this lock, TRUNCATE needs it
                await conn.exec_driver_sql('LOCK TABLE "visitor_salts" IN EXCLUSIVE MODE')
            rows = (await conn.execute(select(visitor_salts))).all()
            kept: dict[date, bytes] = {row.day: bytes(row.salt) for row in rows}
            salt = kept.get(day) or secrets.token_bytes(SALT_BYTES)
            stale = len(kept) - (day in kept)
            if stale:
                await erase_rows(conn, visitor_salts)
            if stale or day not in kept:
                await insert_if_absent(conn, visitor_salts, {"day": day, "salt": salt})
        if stale:
            await flush_erased(self.engine)
            log.info("visitor salt destroyed", extra={"destroyed": stale})
        # Another process may have made today's salt between our read and our insert
        # (SQLite, where the read takes no lock): the stored one wins.
        async with self.engine.connect() as conn:
            stored = await conn.scalar(
                select(visitor_salts.c.salt).where(visitor_salts.c.day == day)
            )
        return bytes(stored) if stored is not None else salt


async def _destroy_rows(engine: AsyncEngine) -> None:
    """Destroy every salt an earlier version kept in the table (Redis holds them now)."""
    async with engine.begin() as conn:
        stale = len((await conn.execute(select(visitor_salts.c.day))).all())
        if stale:
            await erase_rows(conn, visitor_salts)
    if stale:
        await flush_erased(engine)
        log.info("visitor salt destroyed", extra={"destroyed": stale})


@dataclass(slots=True)
class DailySalt:
    """Today's salt, asked of the store once a day.

    A new day gets a new random salt and every older one is destroyed, so no one (not even
    the operator) can link a visitor hash across days.
    """

    store: SaltStore
    day: date | None = None
    salt: bytes = b""
    # BLAKE2b keyed with `salt`, which visitor hashes copy: made with the salt, dropped with
    # it (keying costs a compression, a third of a hash's cost).
    keyed: Any = None
    until: float = 0.0  # the next UTC midnight, epoch seconds: one float compare per request
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def current(self, now: float) -> bytes:
        """The salt of the UTC day holding `now` (epoch seconds)."""
        if now < self.until:
            return self.salt
        today = datetime.fromtimestamp(now, UTC).date()
        async with self.lock:
            if self.day != today:
                self.salt = await self.store.salt_of(today)
                self.keyed = keyed_hasher(self.salt)
                self.day = today
                self.until = day_end(today).timestamp()
        return self.salt

    async def keyed_at(self, now: float) -> Any:
        """`keyed` for the UTC day holding `now` (epoch seconds)."""
        await self.current(now)
        return self.keyed


def keyed_hasher(salt: bytes) -> Any:
    """The visitor hash's BLAKE2b (8 bytes), keyed with a salt."""
    return hashlib.blake2b(key=salt, digest_size=8)


def salt_store(engine: AsyncEngine, redis: Redis | None, prefix: str) -> SaltStore:
    """Redis when configured (where expiry is deletion), else the database."""
    if redis is not None:
        return RedisSalts(redis=redis, prefix=prefix, engine=engine)
    return DatabaseSalts(engine=engine)
