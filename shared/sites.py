"""Sites (tenants): every service scopes its data to one. Registered through the CLI."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.dialect import upsert
from shared.models import daily_dirty, daily_stats, sites

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)(localhost|(\d{1,3}\.){3}\d{1,3}|([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})$"
)


CONTROLLER_MAX = 120
PRIVACY_URL_MAX = 512
DEFAULT_ALERT_COOLDOWN_HOURS = 24
# Control characters, and the Unicode ones that reorder or hide text (bidi overrides,
# zero-width): a name shown to visitors as the controller must read as it is stored.
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_LANG = re.compile(r"^[a-z]{2}$")
_STRING_KEY = re.compile(r"^[a-z]{1,24}$")
_PAGE_KEY = re.compile(r"^[a-z0-9][a-z0-9_]{0,99}$")
STRING_MAX = 400
PAGE_STRING_MAX = 1000
_PRIVACY_URL = re.compile(r"^https://[!-~]+$")


def check_controller(value: str) -> str:
    """The controller's name as visitors read it: trimmed, 1-120 characters, nothing hidden."""
    name = " ".join(value.split())
    if not 1 <= len(name) <= CONTROLLER_MAX:
        raise ValueError(f"the controller's name takes 1 to {CONTROLLER_MAX} characters")
    if _HIDDEN.search(name):
        raise ValueError("the controller's name holds control or invisible characters")
    return name


def check_privacy_url(value: str) -> str:
    """The privacy policy's address: an https URL of at most 512 characters, with a host and
    neither credentials nor spaces (it is put in a link on every widget and preference page)."""
    if len(value) > PRIVACY_URL_MAX:
        raise ValueError(f"the privacy policy URL takes at most {PRIVACY_URL_MAX} characters")
    if not value.isascii() or not _PRIVACY_URL.match(value):
        raise ValueError("the privacy policy URL must be https://host/path (no spaces, no user@)")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise ValueError("the privacy policy URL has no usable host") from None
    if not (parts.hostname or "").strip(".") or "@" in parts.netloc:
        raise ValueError("the privacy policy URL has no usable host (or carries a user@)")
    return value


def check_strings(lang: str, words: Mapping[str, str], *, page: bool = False) -> dict[str, str]:
    """One language's overrides: a two-letter code, short keys, texts of 1-400 visible
    characters (a leading or trailing space is kept: some words run into what follows).
    `page`: the preference page's, keyed by longer names, texts of up to 1000 characters."""
    if not _LANG.match(lang):
        raise ValueError(f"not a two-letter language code: {lang!r}")
    keys, most = (_PAGE_KEY, PAGE_STRING_MAX) if page else (_STRING_KEY, STRING_MAX)
    checked = {}
    for key, text in words.items():
        if not keys.match(key):
            raise ValueError(f"not a string key: {key!r}")
        if not 1 <= len(text) <= most or not text.strip() or _HIDDEN.search(text):
            raise ValueError(f"{lang}.{key}: 1 to {most} visible characters")
        checked[key] = text
    return checked


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
    controller: str | None = Field(
        default=None,
        description="who decides about visitors' data (the controller), named in the consent "
        "widget and on the preference page (unset: the site's domain)",
    )
    privacy_url: str | None = Field(
        default=None,
        description="the site's privacy policy (https), linked from the widget and the "
        "preference page",
    )
    widget_strings: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="the site's own wording of the consent widget: {language: {key: text}} "
        "over the shipped words (keys as in /consent/i18n/en.json)",
    )
    page_strings: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="the site's own wording of the preference page: {language: {key: text}} "
        "over the catalogues' messages (keys as `overt site page-keys` lists them)",
    )
    alert_cooldown_hours: int = Field(
        default=DEFAULT_ALERT_COOLDOWN_HOURS,
        ge=1,
        le=24 * 90,
        description="at most one sales alert (Slack) per contact in this many hours, for "
        "every destination that sets no cool-down of its own",
    )

    @field_validator("controller")
    @classmethod
    def _controller(cls, value: str | None) -> str | None:
        return None if value is None else check_controller(value)

    @field_validator("widget_strings")
    @classmethod
    def _widget_strings(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        return {lang: check_strings(lang, words) for lang, words in value.items() if words}

    @field_validator("page_strings")
    @classmethod
    def _page_strings(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        return {
            lang: check_strings(lang, words, page=True) for lang, words in value.items() if words
        }

    @field_validator("privacy_url")
    @classmethod
    def _privacy_url(cls, value: str | None) -> str | None:
        return None if value is None else check_privacy_url(value)


DEFAULT_SITE_SETTINGS = SiteSettings()


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    domain: str
    timezone: str
    settings: SiteSettings = DEFAULT_SITE_SETTINGS
    # Copies of the settings intake reads for every event: a pydantic model's attribute
    # goes through its __getattr__ hook, a dataclass slot does not.
    consent_required: bool = field(init=False, repr=False, compare=False)
    events_per_second: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "consent_required", self.settings.consent_required)
        object.__setattr__(self, "events_per_second", self.settings.events_per_second)

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
        if site.timezone != current.timezone:
            await _mark_rolled_days(conn, site_id)
    return site


async def _mark_rolled_days(conn: AsyncConnection, site_id: str) -> None:
    """A new time zone moves where the daily rollups split the site's UTC days into local
    days (services/api/stats/daily.py): every day they hold is marked to be rebuilt, and
    read from the events until then, in the same transaction as the change."""
    days = await conn.execute(
        select(daily_stats.c.day).where(daily_stats.c.site_id == site_id).distinct()
    )
    rows = [{"site_id": site_id, "day": day, "generation": 1} for day in days.scalars()]
    await upsert(conn, daily_dirty, rows, keys=["site_id", "day"], add=["generation"])


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
        return await _one_site_in(conn, where)


async def site_in(conn: AsyncConnection, site_id: str) -> Site | None:
    """`get_site` on a connection already open."""
    return await _one_site_in(conn, sites.c.id == site_id)


async def _one_site_in(conn: AsyncConnection, where: ColumnElement[bool]) -> Site | None:
    row = (
        await conn.execute(
            select(sites.c.id, sites.c.domain, sites.c.timezone, sites.c.settings).where(where)
        )
    ).first()
    return None if row is None else _site_of(row)


async def site_settings_in(conn: AsyncConnection, site_id: str) -> SiteSettings:
    """One site's settings, read on a connection already open (defaults for an unknown id)."""
    row = (await conn.execute(select(sites.c.settings).where(sites.c.id == site_id))).first()
    return SiteSettings.model_validate((row.settings if row else None) or {})


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
