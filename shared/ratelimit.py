"""Rate limits: a fixed window per key, counted in Redis (shared by every replica) or in memory.

A key is whatever the caller budgets: an API key's id, a keyed hash of a client's IP, a site.
Redis: one round trip per request (INCR and EXPIRE in a MULTI pipeline) on a key named after
the window, so the count resets by itself. Without Redis (one process) a dict does the same,
dropping ended windows as it grows, so many distinct keys cannot grow it without bound.

Every answer of a limited request says where its budgets stand, in the `RateLimit` and
`RateLimit-Policy` fields of the IETF httpapi draft (draft-ietf-httpapi-ratelimit-headers,
structured-field lists): `RateLimit-Policy: "key";q=600;w=60` (quota per window of w
seconds) and `RateLimit: "key";r=599;t=42` (r left, reset in t seconds). The limiting code
notes each verdict with `note_verdict`; RequestIdMiddleware adds the fields to the answer,
a refusal included.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis

# Where a request's verdicts wait for its answer (in the ASGI scope's state).
_STATE_KEY = "overt_rate_limits"


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int  # seconds until the window ends
    window_s: int = 0


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
        window_s=window_s,
    )


def note_verdict(state: Any, policy: str, verdict: Verdict) -> None:
    """Remember `verdict` under `policy` (a short name: "key", "client", "site") on a
    request's state, for its answer's RateLimit fields; a later verdict of the same policy
    replaces the earlier one."""
    noted: dict[str, Verdict] | None = getattr(state, _STATE_KEY, None)
    if noted is None:
        noted = {}
        setattr(state, _STATE_KEY, noted)
    noted[policy] = verdict


def rate_limit_headers(scope_state: dict[str, Any] | None) -> list[tuple[bytes, bytes]]:
    """The RateLimit and RateLimit-Policy fields for the verdicts noted on a request (none
    when nothing limited it)."""
    noted: dict[str, Verdict] | None = (scope_state or {}).get(_STATE_KEY)
    if not noted:
        return []
    policies = ", ".join(f'"{name}";q={v.limit};w={v.window_s}' for name, v in noted.items())
    states = ", ".join(f'"{name}";r={v.remaining};t={v.retry_after_s}' for name, v in noted.items())
    return [(b"ratelimit-policy", policies.encode()), (b"ratelimit", states.encode())]


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


def app_rate_limiter(
    app_state: Any, name: str, redis: Redis | None, *, prefix: str
) -> KeyRateLimiter:
    """The limiter an app keeps under `name` in its state, made on first use (Redis-backed
    when the process has Redis): one per app, so tests with apps of their own never share
    counts in process."""
    limiter: KeyRateLimiter | None = getattr(app_state, name, None)
    if limiter is None:
        limiter = open_rate_limiter(redis, prefix=prefix)
        setattr(app_state, name, limiter)
    return limiter
