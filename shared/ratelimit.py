"""Per-key rate limits: a fixed window counted in Redis (shared by every replica) or in memory.

Redis: one round trip per request (INCR and EXPIRE in a MULTI pipeline) on a key named after
the window, so the count resets by itself. Without Redis (one process) a dict does the same.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int  # seconds until the window ends


class KeyRateLimiter(Protocol):
    async def hit(
        self, key_id: str, *, limit: int, window_s: int, now: float | None = None
    ) -> Verdict: ...


def _verdict(count: int, limit: int, window_s: int, now: float) -> Verdict:
    window_end = (math.floor(now / window_s) + 1) * window_s
    return Verdict(
        allowed=count <= limit,
        limit=limit,
        remaining=max(0, limit - count),
        retry_after_s=max(1, math.ceil(window_end - now)),
    )


class InProcessRateLimiter:
    """Counts in this process only (the embedded mode has one process)."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}

    async def hit(
        self, key_id: str, *, limit: int, window_s: int, now: float | None = None
    ) -> Verdict:
        now = time.time() if now is None else now
        window = math.floor(now / window_s)
        current, count = self._counts.get(key_id, (window, 0))
        count = count + 1 if current == window else 1
        self._counts[key_id] = (window, count)
        return _verdict(count, limit, window_s, now)


class RedisRateLimiter:
    """Counts in Redis, so every API replica shares one budget per key."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def hit(
        self, key_id: str, *, limit: int, window_s: int, now: float | None = None
    ) -> Verdict:
        now = time.time() if now is None else now
        window = math.floor(now / window_s)
        name = f"{self._prefix}:ratelimit:{key_id}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, window_s + 1)
            count, _ = await pipe.execute()
        return _verdict(int(count), limit, window_s, now)


def open_rate_limiter(redis: Redis | None, *, prefix: str) -> KeyRateLimiter:
    if redis is None:
        return InProcessRateLimiter()
    return RedisRateLimiter(redis, prefix=prefix)
