"""What a running process holds: settings, engine, Redis client and queue, opened once."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.consent_tokens import RevocationNotifier, open_revocations
from shared.db import create_engine
from shared.queue import EventQueue, InProcessQueue, RedisStreamQueue
from shared.settings import Settings

# Generation-0 collections every million (net) allocations instead of CPython's 700. The
# ingest worker keeps two batches (about 200k tuples, dicts and ids) alive while it builds
# and writes them, so the default scans each of them several times before it dies, a large
# share of the worker's CPU in the drain benchmark. A collection scans the objects born
# since the last one, so the threshold must outlast a batch's life for its objects to die
# unscanned (a threshold near a batch's size still cost a measurable share).
GC_THRESHOLD = (1_000_000, 20, 100)


def tune_gc() -> None:
    """Once a server has imported and built everything: freeze what exists (modules, the
    app, SQLAlchemy's metadata: long-lived, never garbage) out of the collector's scans,
    and collect less often. Garbage in cycles is still collected, only in larger steps."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


@dataclass(frozen=True, slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    queue: EventQueue
    redis: Redis | None
    revocations: RevocationNotifier


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Build the engine, Redis client and queue for `settings`; dispose of them on exit."""
    engine = create_engine(settings)
    redis: Redis | None = None
    queue: EventQueue
    if settings.redis_url:
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=5,
            socket_connect_timeout=2,
            health_check_interval=30,
        )
        queue = RedisStreamQueue(
            redis,
            prefix=settings.redis_prefix,
            consumer=settings.worker_name,
            max_entries=settings.queue_max_entries,
            claim_idle_ms=settings.claim_idle_ms,
            slices=settings.queue_slices,
        )
    else:
        queue = InProcessQueue()
    revocations = open_revocations(redis, prefix=settings.redis_prefix)
    try:
        await revocations.start()
        yield Resources(
            settings=settings, engine=engine, queue=queue, redis=redis, revocations=revocations
        )
    finally:
        await revocations.close()
        await queue.close()
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


async def check_ready(resources: Resources) -> dict[str, str]:
    """Ping every dependency; returns a status per dependency ("ok" or the error's type)."""
    checks: dict[str, str] = {}
    try:
        async with resources.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = type(exc).__name__
    try:
        await resources.queue.ping()
        checks["queue"] = "ok"
    except Exception as exc:
        checks["queue"] = type(exc).__name__
    return checks


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]
