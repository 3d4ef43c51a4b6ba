"""API keys, the site time zone and day bounds (the query engine is in query.py)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.models import api_keys
from services.api.schemas import Scope
from shared.models import sites

KEY_PREFIX = "ovt_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    site_id: str
    scopes: frozenset[str]
    rate_limit: int | None = None  # requests per window; None: the deployment's setting


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(
    *, engine: AsyncEngine, site_id: str, scopes: Iterable[Scope], rate_limit: int | None = None
) -> tuple[ApiKey, str]:
    """Make a key for one site; returns it with the secret, which is never stored or shown again."""
    scope_set = frozenset(Scope(scope).value for scope in scopes)
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
    return ApiKey(id=key_id, site_id=site_id, scopes=scope_set, rate_limit=rate_limit), secret


async def revoke_key(*, engine: AsyncEngine, key_id: str) -> bool:
    """Revoke a key at once; returns False when there was no such live key."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return bool(result.rowcount)


async def authenticate_key(*, engine: AsyncEngine, secret: str) -> ApiKey | None:
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
    return ApiKey(
        id=row.id,
        site_id=row.site_id,
        scopes=frozenset(row.scopes.split()),
        rate_limit=row.rate_limit,
    )


def day_bounds(first: date, last: date, timezone: str) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in the site's zone, as UTC instants."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(first, time.min, zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, zone).astimezone(UTC)
    return start, end


async def site_timezone(*, engine: AsyncEngine, site_id: str) -> str:
    async with engine.connect() as conn:
        zone = (
            await conn.execute(select(sites.c.timezone).where(sites.c.id == site_id))
        ).scalar_one()
    return str(zone)
