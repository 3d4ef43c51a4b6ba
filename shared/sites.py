"""Sites (tenants): every service scopes its data to one. Registered through the CLI."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.models import sites

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)(localhost|(\d{1,3}\.){3}\d{1,3}|([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})$"
)


class SiteError(ValueError):
    """The site cannot be registered as asked (bad domain, time zone, or already there)."""


class SiteSettings(BaseModel):
    """Per-site knobs (stored as JSON on the site; every field has a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engaged_min_ms: int = Field(default=10_000, ge=0, description="engaged session: time")
    engaged_min_pageviews: int = Field(default=2, ge=1, description="engaged session: pages")
    events_per_second: int = Field(
        default=20_000, ge=1, description="rate limit per collector process (burst 2x)"
    )
    extra_hosts: tuple[str, ...] = Field(
        default=(), description="other domains whose pages may send events for this site"
    )
    raw_retention_months: int = Field(
        default=25,
        ge=1,
        le=25,
        description="months raw events and sessions are kept (CNIL ceiling: 25)",
    )
    rollup_retention_months: int | None = Field(
        default=None, ge=1, description="months hourly rollups are kept (unset: kept)"
    )
    consent_required: bool = Field(
        default=False,
        description="the site asks analytics consent before any event: its script tag "
        'carries data-consent="required" (the snippet sends nothing before the opt-in)',
    )


DEFAULT_SITE_SETTINGS = SiteSettings()


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    domain: str
    timezone: str
    settings: SiteSettings = DEFAULT_SITE_SETTINGS

    def owns_host(self, host: str) -> bool:
        """True for the site's domain, its subdomains and its extra hosts."""
        return (
            host == self.domain
            or host_belongs_to(host, self.domain)
            or any(host_belongs_to(host, extra) for extra in self.settings.extra_hosts)
        )


def script_tag(base: str, site: Site) -> str:
    """The tag a site pastes into its pages, for Overt served at `base` (the CLI's and the
    web app's setup page say the same)."""
    consent = ' data-consent="required"' if site.settings.consent_required else ""
    return f'<script defer src="{base}/overt.js" data-site="{site.id}"{consent}></script>'


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


async def create_site(
    *,
    engine: AsyncEngine,
    domain: str,
    timezone: str = "UTC",
    settings: SiteSettings = DEFAULT_SITE_SETTINGS,
) -> Site:
    """Register a site; its id is random and goes into the script tag."""
    _check_zone(timezone)
    site = Site(
        id=secrets.token_hex(6),
        domain=normalise_domain(domain),
        timezone=timezone,
        settings=settings,
    )
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(sites).values(
                    id=site.id,
                    domain=site.domain,
                    timezone=site.timezone,
                    settings=settings.model_dump(exclude_defaults=True) or None,
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        raise SiteError(f"a site for {site.domain} is already registered") from None
    return site


async def list_sites(*, engine: AsyncEngine) -> list[Site]:
    """Every registered site, by domain."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(sites.c.id, sites.c.domain, sites.c.timezone, sites.c.settings).order_by(
                    sites.c.domain
                )
            )
        ).all()
    return [_site_of(row) for row in rows]


async def update_site(
    *,
    engine: AsyncEngine,
    site_id: str,
    timezone: str | None = None,
    changes: Mapping[str, Any] | None = None,
) -> Site:
    """Change a site's time zone and settings (only those given); returns the site as stored.

    Running collectors see the change once their site cache expires (30 s)."""
    if timezone is not None:
        _check_zone(timezone)
    changes = dict(changes or {})
    if "extra_hosts" in changes:
        changes["extra_hosts"] = tuple(normalise_domain(host) for host in changes["extra_hosts"])
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                select(sites.c.id, sites.c.domain, sites.c.timezone, sites.c.settings)
                .where(sites.c.id == site_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            raise LookupError(f"no site with id {site_id!r}")
        current = _site_of(row)
        try:
            settings = SiteSettings.model_validate({**current.settings.model_dump(), **changes})
        except ValidationError as exc:
            raise SiteError("; ".join(_setting_problem(error) for error in exc.errors())) from None
        site = Site(
            id=current.id,
            domain=current.domain,
            timezone=timezone or current.timezone,
            settings=settings,
        )
        await conn.execute(
            update(sites)
            .where(sites.c.id == site_id)
            .values(
                timezone=site.timezone,
                settings=settings.model_dump(exclude_defaults=True) or None,
            )
        )
    return site


def _setting_problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}"


def _check_zone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SiteError(f"unknown time zone: {timezone!r}") from None


def _site_of(row: Any) -> Site:
    return Site(
        id=row.id,
        domain=row.domain,
        timezone=row.timezone,
        settings=SiteSettings.model_validate(row.settings or {}),
    )


async def get_site(*, engine: AsyncEngine, site_id: str) -> Site | None:
    """The site with this id, or None."""
    return await _one_site(engine, sites.c.id == site_id)


async def get_site_by_domain(*, engine: AsyncEngine, domain: str) -> Site | None:
    """The site registered for this domain (as `normalise_domain` spells it), or None."""
    return await _one_site(engine, sites.c.domain == domain)


async def _one_site(engine: AsyncEngine, where: ColumnElement[bool]) -> Site | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(sites.c.id, sites.c.domain, sites.c.timezone, sites.c.settings).where(where)
            )
        ).first()
    return None if row is None else _site_of(row)


async def get_site_settings(
    *, engine: AsyncEngine, site_ids: Iterable[str]
) -> dict[str, SiteSettings]:
    """Settings of several sites at once (the ingest worker needs them per batch)."""
    wanted = sorted(set(site_ids))
    if not wanted:
        return {}
    async with engine.connect() as conn:
        rows = (
            await conn.execute(select(sites.c.id, sites.c.settings).where(sites.c.id.in_(wanted)))
        ).all()
    return {row.id: SiteSettings.model_validate(row.settings or {}) for row in rows}
