"""API keys: made for one site and revoked at once (how they are read: shared/keys.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.keys import KEY_PREFIX, KeyScope, LiveKey, hash_key
from shared.models import api_keys, sites


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


async def list_keys(*, engine: AsyncEngine, site_id: str | None = None) -> list[dict[str, object]]:
    """Every key (live and revoked), oldest first: its id, site, scopes and dates, never a hash."""
    query = select(
        api_keys.c.id,
        api_keys.c.site_id,
        api_keys.c.scopes,
        api_keys.c.rate_limit,
        api_keys.c.created_at,
        api_keys.c.revoked_at,
    ).order_by(api_keys.c.created_at, api_keys.c.id)
    if site_id is not None:
        query = query.where(api_keys.c.site_id == site_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        {
            "id": row.id,
            "site_id": row.site_id,
            "scopes": row.scopes.split(),
            "rate_limit": row.rate_limit,
            "created_at": row.created_at.isoformat(),
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        }
        for row in rows
    ]
