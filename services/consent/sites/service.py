"""A site's consent set-up: its keys, its chain and its default notice, made on first use."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.consent.exceptions import SiteNotFound
from services.consent.keys.models import consent_site_keys
from services.consent.keys.service import create_site_keys, site_keys
from services.consent.ledger.service import create_chain
from services.consent.notices.service import create_default_notice
from shared.sites import Site, get_site


async def ensure_site(*, engine: AsyncEngine, secret: bytes, site_id: str) -> Site:
    """The site, with its consent keys, chain and default purposes made on first use."""
    site = await get_site(engine=engine, site_id=site_id)
    if site is None:
        raise SiteNotFound()
    async with engine.connect() as conn:
        ready = (
            await conn.execute(
                select(consent_site_keys.c.site_id).where(consent_site_keys.c.site_id == site_id)
            )
        ).first()
    if ready is None:
        async with engine.begin() as conn:
            await create_chain(conn=conn, site_id=site_id)
            await create_default_notice(conn=conn, site_id=site_id, now=datetime.now(UTC))
            # Last: its presence is what says "this site is set up".
            await create_site_keys(conn=conn, secret=secret, site_id=site_id)
    return site


async def site_assertion_secret(*, engine: AsyncEngine, secret: bytes, site_id: str) -> str:
    """The site's identity-assertion secret (hex), for the site's backend to sign with."""
    await ensure_site(engine=engine, secret=secret, site_id=site_id)
    async with engine.connect() as conn:
        keys = await site_keys(conn=conn, secret=secret, site_id=site_id)
    return keys.assertion_secret.hex()
