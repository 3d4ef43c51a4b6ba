"""API keys: made for one site, revoked at once, and a secret authenticated to its live key."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.keys.models import api_keys
from services.api.keys.schemas import KeyScope
from shared.models import sites

KEY_PREFIX = "ovt_"


@dataclass(frozen=True, slots=True)
class LiveKey:
    """A live (unrevoked) key as a request sees it."""

    id: str
    site_id: str
    scopes: frozenset[str]
    rate_limit: int | None = None  # requests per window; None: the deployment's setting


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(
    *, engine: AsyncEngine, site_id: str, scopes: Iterable[KeyScope], rate_limit: int | None = None
) -> tuple[LiveKey, str]:
    """Make a key for one site; returns it with the secret, which is never stored or shown again."""
    scope_set = frozenset(KeyScope(scope).value for scope in scopes)
    if not scope_set:
        raise ValueError("at least one scope is needed")
    if rate_limit is not None and rate_limit < 1:
        raise ValueError("the rate limit is at least 1 request per window")
    key_id = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    async with engine.begin() as conn:
        known = (await conn.execute(select(sites.c.id).where(sites.c.id == site_id))).first()
        if known is None:
            raise LookupError(f"no site with id {site_id!r}")
        await conn.execute(
            insert(api_keys).values(
                id=key_id,
                site_id=site_id,
                key_hash=hash_key(secret),
                scopes=" ".join(sorted(scope_set)),
                created_at=datetime.now(UTC),
                rate_limit=rate_limit,
            )
        )
    return LiveKey(id=key_id, site_id=site_id, scopes=scope_set, rate_limit=rate_limit), secret


async def revoke_key(*, engine: AsyncEngine, key_id: str) -> bool:
    """Revoke a key at once; returns False when there was no such live key."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return bool(result.rowcount)


async def authenticate_key(*, engine: AsyncEngine, secret: str) -> LiveKey | None:
    """The live key behind a secret, or None (the stored hash is compared in constant time)."""
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
