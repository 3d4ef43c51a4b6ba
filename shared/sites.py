"""Sites (tenants): every service scopes its data to one. Registered through the CLI."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import sites

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)(localhost|(\d{1,3}\.){3}\d{1,3}|([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})$"
)


class SiteError(ValueError):
    """The site cannot be registered as asked (bad domain, time zone, or already there)."""


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    domain: str
    timezone: str


def normalise_domain(raw: str) -> str:
    """'https://WWW.Example.com/x' -> 'example.com'; refuses what is not a host name."""
    domain = raw.strip().lower()
    domain = re.sub(r"^[a-z]+://", "", domain).split("/", 1)[0].split(":", 1)[0]
    domain = domain.removeprefix("www.")
    if not _DOMAIN.match(domain):
        raise SiteError(f"not a domain name: {raw!r}")
    return domain


def host_belongs_to(host: str, domain: str) -> bool:
    """True when `host` is the site's domain or one of its subdomains."""
    host = host.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


async def create_site(*, engine: AsyncEngine, domain: str, timezone: str = "UTC") -> Site:
    """Register a site; its id is random and goes into the script tag."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SiteError(f"unknown time zone: {timezone!r}") from None
    site = Site(id=secrets.token_hex(6), domain=normalise_domain(domain), timezone=timezone)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(sites).values(
                    id=site.id,
                    domain=site.domain,
                    timezone=site.timezone,
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        raise SiteError(f"a site for {site.domain} is already registered") from None
    return site


async def get_site(*, engine: AsyncEngine, site_id: str) -> Site | None:
    """The site with this id, or None."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(sites.c.id, sites.c.domain, sites.c.timezone).where(sites.c.id == site_id)
            )
        ).first()
    return Site(id=row.id, domain=row.domain, timezone=row.timezone) if row else None
