"""API keys as every service reads them: the scopes, the hash, and a secret to its live key.

The API makes, revokes and checks keys for its routes; the collector checks ingest keys
(scope events:write) on POST /api/event. Both read the one `api_keys` table through this
module, so how a key is hashed and what makes it live is decided here only.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.errors import ProblemError
from shared.models import api_keys
from shared.ratelimit import KeyRateLimiter, note_verdict

KEY_PREFIX = "ovt_"


class KeyScope(StrEnum):
    stats_read = "stats:read"
    contacts_read = "contacts:read"
    outcomes_write = "outcomes:write"
    webhooks_manage = "webhooks:manage"
    # Changing a definition changes every answer (and contact scores) from then on: a key that
    # only reads stats must not be able to redefine "engaged", so writing needs its own scope.
    definitions_write = "definitions:write"
    # Server-side events for the key's site (POST /api/event): the one scope a backend's key
    # needs, and one that reads nothing, so a leaked ingest key discloses no data.
    events_write = "events:write"
    # Imports add to what every stats answer counts (and can delete what was added): a
    # reading key must not, so they need their own scope.
    imports_write = "imports:write"


@dataclass(frozen=True, slots=True)
class LiveKey:
    """A live (unrevoked) key as a request sees it."""

    id: str
    site_id: str
    scopes: frozenset[str]
    rate_limit: int | None = None  # requests per window; None: the deployment's setting


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def authenticate_key(*, engine: AsyncEngine, secret: str) -> LiveKey | None:
    """The live key behind a secret, or None.

    Found by its hash (an index lookup: nothing is compared byte by byte against a stored
    secret), and the stored hash is compared again in constant time."""
    return await _live_key(engine, hash_key(secret))


async def _live_key(engine: AsyncEngine, digest: str) -> LiveKey | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    api_keys.c.id,
                    api_keys.c.site_id,
                    api_keys.c.scopes,
                    api_keys.c.key_hash,
                    api_keys.c.rate_limit,
                ).where(api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None))
            )
        ).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return LiveKey(
        id=row.id,
        site_id=row.site_id,
        scopes=frozenset(row.scopes.split()),
        rate_limit=row.rate_limit,
    )


KEY_CACHE_SECONDS = 10.0
KEY_CACHE_ENTRIES = 10_000


@dataclass(slots=True)
class KeyCache:
    """Live keys by their secret's hash, held briefly, for a route a backend calls often
    (POST /api/event): without it every request is a query. Only live keys are held, so an
    unknown secret is always looked up; a revoked key still works here for at most
    KEY_CACHE_SECONDS."""

    engine: AsyncEngine
    ttl_s: float = KEY_CACHE_SECONDS
    entries: dict[str, tuple[float, LiveKey]] = field(default_factory=dict)

    async def authenticate(self, secret: str) -> LiveKey | None:
        """As `authenticate_key`, from the cache when the key was found live lately."""
        digest = hash_key(secret)
        now = time.monotonic()
        hit = self.entries.get(digest)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        key = await _live_key(self.engine, digest)
        if key is None:
            self.entries.pop(digest, None)
            return None
        if len(self.entries) >= KEY_CACHE_ENTRIES:
            self.entries.clear()
        self.entries[digest] = (now, key)
        return key


async def spend_request(
    limiter: KeyRateLimiter, key: LiveKey, *, limit: int, window_s: int, state: Any = None
) -> None:
    """Count one request against the key's budget (its own limit, else `limit`, per window);
    TooManyRequests (429 + Retry-After) over it. With a request's `state`, the verdict is
    noted there for the answer's RateLimit fields, refusals included."""
    verdict = await limiter.hit(key.id, limit=key.rate_limit or limit, window_s=window_s)
    if state is not None:
        note_verdict(state, "key", verdict)
    if not verdict.allowed:
        raise TooManyRequests(verdict.retry_after_s, verdict.limit)


class TooManyRequests(ProblemError):
    def __init__(self, retry_after_s: int, limit: int) -> None:
        super().__init__(
            429,
            "Rate limit exceeded",
            slug="rate-limited",
            detail=f"This key may make {limit} requests per window; retry after {retry_after_s} s.",
            headers={"Retry-After": str(retry_after_s)},
        )


class MissingKey(ProblemError):
    def __init__(self, detail: str = "Send 'Authorization: Bearer <key>'.") -> None:
        super().__init__(
            401,
            "API key required",
            slug="api-key-required",
            detail=detail,
            headers={"WWW-Authenticate": 'Bearer realm="overt"'},
        )


class InvalidKey(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            401,
            "Invalid API key",
            slug="invalid-api-key",
            detail="The key is unknown or revoked.",
            headers={"WWW-Authenticate": 'Bearer realm="overt", error="invalid_token"'},
        )


class MissingScope(ProblemError):
    def __init__(self, scope: str) -> None:
        super().__init__(
            403, "Scope missing", slug="missing-scope", detail=f"This key lacks the {scope} scope."
        )


class OtherSite(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            403,
            "Key not valid for this site",
            slug="wrong-site",
            detail="An API key is valid only for the site it was created for.",
        )
