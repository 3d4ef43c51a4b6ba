"""API keys as every service reads them: the scopes, the hash, and a secret to its live key.

The API makes, revokes and checks keys for its routes; the collector checks ingest keys
(scope events:write) on POST /api/event. Both read the one `api_keys` table through this
module, so how a key is hashed and what makes it live is decided here only.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.errors import ProblemError
from shared.models import api_keys

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
    digest = hash_key(secret)
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
