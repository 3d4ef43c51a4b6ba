"""Read-only shared links to one site's dashboard: `/share/{token}`.

The token is random and shown once, when the link is made; only its SHA-256 is kept (as
every token Overt hands out). A link may carry a password (argon2id, as accounts'); a
browser that gave it gets a cookie holding an HMAC of the link's id and password hash
under the server secret, so a new password (or a revoked link) ends every such cookie.
A revoked link is gone: it answers 404 like a link that never was.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.web.accounts.service import hash_password, password_matches, token_hash
from services.api.web.dashboard.models import dashboard_shares
from shared.sites import Site, get_site

MAX_PER_SITE = 50
MAX_LABEL = 120


class ShareRefused(ValueError):
    """Why a link was not made, in words for the form."""


@dataclass(frozen=True)
class Share:
    id: str
    site_id: str
    label: str
    has_password: bool
    password_hash: str | None
    created_at: datetime


def _share(values: Mapping[Any, Any]) -> Share:
    return Share(
        id=values["id"],
        site_id=values["site_id"],
        label=values["label"],
        has_password=values["password_hash"] is not None,
        password_hash=values["password_hash"],
        created_at=values["created_at"],
    )


async def create_share(
    *, engine: AsyncEngine, site_id: str, label: str, password: str | None
) -> tuple[Share, str]:
    """A new link to the site's dashboard, and its token (shown once)."""
    label = " ".join(label.split()) or "Shared link"
    if len(label) > MAX_LABEL:
        raise ShareRefused(f"A name has at most {MAX_LABEL} characters.")
    try:
        hashed = hash_password(password) if password else None
    except ValueError as exc:
        raise ShareRefused(f"The password: {exc}.") from None
    if len(await list_shares(engine=engine, site_id=site_id)) >= MAX_PER_SITE:
        raise ShareRefused(f"A site has at most {MAX_PER_SITE} links; revoke one first.")
    token = secrets.token_urlsafe(24)
    values = {
        "id": secrets.token_hex(8),
        "site_id": site_id,
        "token_hash": token_hash(token),
        "label": label,
        "password_hash": hashed,
        "created_at": datetime.now(UTC),
    }
    async with engine.begin() as conn:
        await conn.execute(insert(dashboard_shares).values(**values))
    return _share(values), token


async def list_shares(*, engine: AsyncEngine, site_id: str) -> list[Share]:
    """The site's live links, newest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(dashboard_shares)
            .where(dashboard_shares.c.site_id == site_id, dashboard_shares.c.revoked_at.is_(None))
            .order_by(dashboard_shares.c.created_at.desc(), dashboard_shares.c.id)
        )
        return [_share(row._mapping) for row in rows]


async def revoke_share(*, engine: AsyncEngine, site_id: str, share_id: str) -> bool:
    """End a link of the site's; whether there was a live one."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(dashboard_shares)
            .where(
                dashboard_shares.c.site_id == site_id,
                dashboard_shares.c.id == share_id,
                dashboard_shares.c.revoked_at.is_(None),
            )
            .values(revoked_at=datetime.now(UTC))
        )
    return bool(result.rowcount)


async def find_share(*, engine: AsyncEngine, token: str) -> tuple[Share, Site] | None:
    """The live link a token opens, with its site; None for any other token."""
    if not token or len(token) > 64:
        return None
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(dashboard_shares).where(
                    dashboard_shares.c.token_hash == token_hash(token),
                    dashboard_shares.c.revoked_at.is_(None),
                )
            )
        ).first()
    if row is None:
        return None
    site = await get_site(engine=engine, site_id=row.site_id)
    return (_share(row._mapping), site) if site is not None else None


def unlock_value(secret: bytes, share: Share) -> str:
    """What the cookie of a browser that gave the link's password holds."""
    seed = f"share:{share.id}:{share.password_hash or ''}".encode()
    return hmac.new(secret, seed, hashlib.sha256).hexdigest()


def is_unlocked(secret: bytes, share: Share, cookie: str | None) -> bool:
    """A link without a password is always open; with one, for the cookie of its password."""
    if share.password_hash is None:
        return True
    return cookie is not None and hmac.compare_digest(cookie, unlock_value(secret, share))


def check_password(share: Share, password: str) -> bool:
    return password_matches(share.password_hash, password)
