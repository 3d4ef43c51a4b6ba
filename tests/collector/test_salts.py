"""A day's salt is destroyed when the day ends, in a way that reading storage cannot undo
(promise: visitor hashes of two days cannot be linked, not even by the operator)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text

from services.collector.salts import GRACE, DailySalt, DatabaseSalts, RedisSalts, day_end
from shared.models import events, visitor_salts
from shared.runtime import Resources
from shared.settings import Settings, sqlite_path
from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio

DAY = date(2026, 12, 1)


async def stored_bytes(resources: Resources) -> bytes:
    """Everything the database keeps of `visitor_salts`, live or deleted: the raw pages on
    PostgreSQL; the database file and its WAL on SQLite."""
    settings = resources.settings
    if settings.is_sqlite:
        path = sqlite_path(settings.database_url)
        wal = Path(f"{path}-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    async with resources.engine.begin() as conn:
        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
        pages = await conn.scalar(
            text("SELECT pg_relation_size('visitor_salts') / current_setting('block_size')::int")
        )
        raw = [
            await conn.scalar(text(f"SELECT get_raw_page('visitor_salts', {page})"))
            for page in range(int(pages or 0))
        ]
    return b"".join(bytes(page) for page in raw)


async def test_yesterdays_salt_cannot_be_read_back_from_storage(resources: Resources) -> None:
    store = DatabaseSalts(resources.engine)
    yesterday = await store.salt_of(DAY)
    assert await store.salt_of(DAY) == yesterday  # one salt a day
    assert yesterday in await stored_bytes(resources)
    today = await store.salt_of(DAY + timedelta(days=1))
    assert today != yesterday
    async with resources.engine.connect() as conn:
        days = (await conn.execute(select(visitor_salts.c.day))).scalars().all()
    assert days == [DAY + timedelta(days=1)]
    kept = await stored_bytes(resources)
    assert today in kept
    assert yesterday not in kept


async def test_postgres_keeps_salts_out_of_the_write_ahead_log(
    postgres_settings: Settings,
) -> None:
    from shared.runtime import open_resources

    async with open_resources(postgres_settings) as resources, resources.engine.connect() as conn:
        persistence = await conn.scalar(
            text("SELECT relpersistence FROM pg_class WHERE relname = 'visitor_salts'")
        )
    assert persistence in ("u", b"u")  # UNLOGGED ("char", which asyncpg gives as bytes)


async def test_with_redis_the_salt_expires_there_and_the_table_is_emptied(
    postgres_settings: Settings,
) -> None:
    from shared.runtime import open_resources

    async with open_resources(postgres_settings) as resources:
        assert resources.redis is not None
        async with resources.engine.begin() as conn:  # what an earlier version left behind
            await conn.execute(insert(visitor_salts).values(day=DAY, salt=b"s" * 32))
        store = RedisSalts(resources.redis, postgres_settings.redis_prefix, resources.engine)
        today = datetime.now(UTC).date()
        salt = await store.salt_of(today)
        assert await store.salt_of(today) == salt
        key = f"{postgres_settings.redis_prefix}:visitor-salt:{today.isoformat()}"
        expires_at = await resources.redis.expiretime(key)
        assert expires_at == int((day_end(today) + GRACE).timestamp())
        # A day long over: its key is born expired, so nothing of it stays in Redis.
        await store.salt_of(DAY)
        assert (
            await resources.redis.exists(f"{postgres_settings.redis_prefix}:visitor-salt:{DAY}")
            == 0
        )
        async with resources.engine.connect() as conn:
            assert (await conn.execute(select(visitor_salts))).all() == []
        assert b"s" * 32 not in await stored_bytes(resources)
        await resources.redis.delete(key)


async def test_intake_keeps_the_salt_in_redis_when_configured(overt: Overt) -> None:
    response = await overt.send(overt.event())
    assert response.status_code == 202
    async with overt.resources.engine.connect() as conn:
        rows = (await conn.execute(select(visitor_salts.c.day))).scalars().all()
    today = datetime.now(UTC).date()
    redis = overt.resources.redis
    if redis is None:
        assert rows == [today]
    else:
        assert rows == []
        prefix = overt.resources.settings.redis_prefix
        assert await redis.exists(f"{prefix}:visitor-salt:{today.isoformat()}") == 1


async def test_a_rotated_salt_leaves_only_the_new_days_keyed_hasher(
    resources: Resources,
) -> None:
    """Intake hashes with copies of DailySalt.keyed. At the day's end it is replaced by the
    new salt's hasher and the old one is not kept; each hashes as BLAKE2b keyed with its
    day's salt, so two days' hashes of one visitor differ."""
    daily = DailySalt(store=DatabaseSalts(resources.engine))
    late = day_end(DAY).timestamp() - 1
    old_keyed = await daily.keyed_at(late)
    old_salt = daily.salt
    new_keyed = await daily.keyed_at(late + 2)
    assert daily.salt != old_salt
    assert daily.keyed is new_keyed
    assert new_keyed is not old_keyed
    data = b"s\x00192.0.2.1\x00UA"
    digests = []
    for keyed, salt in ((old_keyed, old_salt), (new_keyed, daily.salt)):
        hasher = keyed.copy()
        hasher.update(data)
        digests.append(hasher.digest())
        assert digests[-1] == hashlib.blake2b(data, key=salt, digest_size=8).digest()
    assert digests[0] != digests[1]


async def test_a_stored_visitor_hash_is_visitor_hash_of_todays_salt(overt: Overt) -> None:
    """Intake hashes with the day's keyed hasher (made once per salt, copied per request):
    what it stores is BLAKE2b keyed with that day's salt of site, NUL, IP, NUL, User-Agent."""
    agent = "Mozilla/5.0 (X11; Linux x86_64) HashCheck/2.0"
    today = datetime.now(UTC).date()
    response = await overt.send(overt.event(), **{"user-agent": agent})
    assert response.status_code == 202
    await overt.drained()
    async with overt.resources.engine.connect() as conn:
        stored = (await conn.execute(select(events.c.visitor_hash))).scalars().all()
        salts = (await conn.execute(select(visitor_salts.c.salt))).scalars().all()
    redis = overt.resources.redis
    if redis is None:
        (kept,) = salts
    else:
        prefix = overt.resources.settings.redis_prefix
        kept = await redis.get(f"{prefix}:visitor-salt:{today.isoformat()}")
    salt = bytes(kept)
    data = f"{overt.site.id}\x00203.0.113.7\x00{agent}".encode()
    digest = hashlib.blake2b(data, key=salt, digest_size=8).digest()
    assert stored == [int.from_bytes(digest, "big", signed=True)]
