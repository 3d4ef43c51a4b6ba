"""Rate limits: a fixed window per key, counted in Redis (shared by every replica) or in memory.

A key is whatever the caller budgets: an API key's id, a keyed hash of a client's IP, a site.
Redis: one round trip per request (INCR and EXPIRE in a MULTI pipeline) on a key named after
the window, so the count resets by itself. Without Redis (one process) a dict does the same,
dropping ended windows as it grows, so many distinct keys cannot grow it without bound.
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

    PRUNE_ABOVE = 10_000  # keys held before ended windows are first dropped

    def __init__(self) -> None:
        self._counts: dict[str, tuple[float, int]] = {}  # key -> (window end, count)
        self._prune_at = self.PRUNE_ABOVE

    async def hit(
        self, key_id: str, *, limit: int, window_s: int, now: float | None = None
    ) -> Verdict:
        now = time.time() if now is None else now
        window_end = (math.floor(now / window_s) + 1) * window_s
        current, count = self._counts.get(key_id, (window_end, 0))
        count = count + 1 if current == window_end else 1
        if key_id not in self._counts and len(self._counts) >= self._prune_at:
            self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
            # Next pass when the live keys have doubled: pruning stays O(1) amortised.
            self._prune_at = max(self.PRUNE_ABOVE, 2 * len(self._counts))
        self._counts[key_id] = (window_end, count)
        return _verdict(count, limit, window_s, now)

    def __len__(self) -> int:
        return len(self._counts)


class RedisRateLimiter:
    """Counts in Redis, so every replica shares one budget per key."""

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
    """Redis-backed when the process has Redis, in process otherwise."""
    if redis is None:
        return InProcessRateLimiter()
    return RedisRateLimiter(redis, prefix=prefix)
