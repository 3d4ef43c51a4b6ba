"""Purposes and notices: what a site asks consent for, each published text and its hash."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.consent.crypto import sha256_hex
from services.consent.exceptions import SiteNotFound
from services.consent.notices.exceptions import UnknownPurpose
from services.consent.notices.models import (
    consent_notice_texts,
    consent_notices,
    consent_purposes,
)
from shared.dialect import insert_if_absent

# How long consent lasts unless the site says less: 12 months, then the visitor is asked again.
CONSENT_LIFETIME = timedelta(days=365)
# Never longer than 13 months: the CNIL's ceiling for consent-based trackers (and its
# recommendation to ask again after at most that); no site setting goes past it.
MAX_LIFETIME = timedelta(days=395)


@dataclass(frozen=True, slots=True)
class PurposeDefinition:
    purpose: str
    title: str
    text: str
    dpv_term: str
    consent_mode: tuple[str, ...]
    gpc_opt_out: bool


DEFAULT_PURPOSES = (
    PurposeDefinition(
        purpose="analytics",
        title="Remember this browser for analytics",
        text=(
            "We keep a random number in this site's storage in your browser, so we can see "
            "that a later visit comes from the same browser. It tells us nothing about who "
            "you are; without it we only count visits within a single day."
        ),
        dpv_term="dpv:ServiceUsageAnalytics",
        consent_mode=("analytics_storage",),
        gpc_opt_out=False,
    ),
    PurposeDefinition(
        purpose="identification",
        title="Connect your visits to you",
        text=(
            "If you also tell us who you are (or sign in), we link the pages you visit here "
            "to your name or e-mail address, so our team can see what interested you. You can "
            "withdraw at any time; the link is then no longer used and can be erased."
        ),
        dpv_term="dpv:CustomerRelationshipManagement",
        consent_mode=("ad_user_data",),
        gpc_opt_out=True,
    ),
    PurposeDefinition(
        purpose="marketing_contact",
        title="Contact you about our products",
        text=(
            "We may contact you by e-mail about products and offers related to what you "
            "looked at. Every message has a one-click way to stop."
        ),
        dpv_term="dpv:DirectMarketing",
        consent_mode=("ad_storage", "ad_personalization"),
        gpc_opt_out=True,
    ),
)


@dataclass(frozen=True, slots=True)
class Purpose:
    purpose: str
    title: str
    text: str
    text_hash: str
    dpv_term: str
    consent_mode: tuple[str, ...]
    gpc_opt_out: bool
    lifetime: timedelta = field(default_factory=lambda: CONSENT_LIFETIME)

    def public(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "title": self.title,
            "description": self.text,
            "notice_sha256": self.text_hash,
            "dpv_term": self.dpv_term,
            "consent_mode": list(self.consent_mode),
            "gpc_opt_out": self.gpc_opt_out,
            "lifetime_days": self.lifetime.days,
        }


@dataclass(frozen=True, slots=True)
class Notice:
    site_id: str
    version: int
    purposes: tuple[Purpose, ...]

    def purpose(self, name: str) -> Purpose:
        for purpose in self.purposes:
            if purpose.purpose == name:
                return purpose
        raise UnknownPurpose(name)


async def create_default_notice(*, conn: AsyncConnection, site_id: str, now: datetime) -> None:
    """The default purposes and notice version 1 with their texts (once; a repeat is ignored)."""
    for position, definition in enumerate(DEFAULT_PURPOSES):
        await insert_if_absent(
            conn,
            consent_purposes,
            {
                "site_id": site_id,
                "purpose": definition.purpose,
                "position": position,
                "title": definition.title,
                "dpv_term": definition.dpv_term,
                "consent_mode": " ".join(definition.consent_mode),
                "gpc_opt_out": definition.gpc_opt_out,
                "created_at": now,
            },
        )
    await insert_if_absent(
        conn, consent_notices, {"site_id": site_id, "version": 1, "published_at": now}
    )
    for definition in DEFAULT_PURPOSES:
        await insert_if_absent(
            conn,
            consent_notice_texts,
            {
                "site_id": site_id,
                "version": 1,
                "purpose": definition.purpose,
                "text": definition.text,
                "text_hash": sha256_hex(definition.text),
            },
        )


async def load_notice(*, conn: AsyncConnection, site_id: str, version: int | None = None) -> Notice:
    """The site's current notice (or one version), with each purpose's text."""
    if version is None:
        version = (
            await conn.execute(
                select(func.max(consent_notices.c.version)).where(
                    consent_notices.c.site_id == site_id
                )
            )
        ).scalar_one()
        if version is None:
            raise SiteNotFound()
    rows = await conn.execute(
        select(
            consent_purposes.c.purpose,
            consent_purposes.c.title,
            consent_purposes.c.dpv_term,
            consent_purposes.c.consent_mode,
            consent_purposes.c.gpc_opt_out,
            consent_purposes.c.lifetime_days,
            consent_notice_texts.c.text,
            consent_notice_texts.c.text_hash,
        )
        .join(
            consent_notice_texts,
            (consent_notice_texts.c.site_id == consent_purposes.c.site_id)
            & (consent_notice_texts.c.purpose == consent_purposes.c.purpose),
        )
        .where(consent_purposes.c.site_id == site_id, consent_notice_texts.c.version == version)
        .order_by(consent_purposes.c.position)
    )
    purposes = tuple(
        Purpose(
            purpose=row.purpose,
            title=row.title,
            text=row.text,
            text_hash=row.text_hash,
            dpv_term=row.dpv_term,
            consent_mode=tuple(row.consent_mode.split()),
            gpc_opt_out=bool(row.gpc_opt_out),
            lifetime=timedelta(days=row.lifetime_days) if row.lifetime_days else CONSENT_LIFETIME,
        )
        for row in rows
    )
    if not purposes:
        raise SiteNotFound()
    return Notice(site_id=site_id, version=version, purposes=purposes)


async def get_notice(*, engine: AsyncEngine, site_id: str, version: int | None = None) -> Notice:
    """The site's current notice (or one version of it), with every purpose's text."""
    async with engine.connect() as conn:
        return await load_notice(conn=conn, site_id=site_id, version=version)


async def current_version(*, engine: AsyncEngine, site_id: str) -> int:
    """The version number of the site's current notice."""
    return (await get_notice(engine=engine, site_id=site_id)).version


@dataclass(frozen=True, slots=True)
class NoticeChange:
    version: int
    changed: list[str]  # purposes whose text changed: their earlier decisions are asked again


async def publish_notice(
    *, engine: AsyncEngine, site_id: str, texts: Mapping[str, str], now: datetime | None = None
) -> NoticeChange:
    """Publish a new notice version; purposes not in `texts` keep their current text."""
    now = now or datetime.now(UTC)
    for attempt in range(5):
        try:
            async with engine.begin() as conn:
                current = await load_notice(conn=conn, site_id=site_id)
                for name in texts:
                    current.purpose(name)  # refuses unknown purposes
                version = current.version + 1
                await conn.execute(
                    insert(consent_notices).values(
                        site_id=site_id, version=version, published_at=now
                    )
                )
                changed = []
                for purpose in current.purposes:
                    text = texts.get(purpose.purpose, purpose.text)
                    digest = sha256_hex(text)
                    if digest != purpose.text_hash:
                        changed.append(purpose.purpose)
                    await conn.execute(
                        insert(consent_notice_texts).values(
                            site_id=site_id,
                            version=version,
                            purpose=purpose.purpose,
                            text=text,
                            text_hash=digest,
                        )
                    )
            return NoticeChange(version=version, changed=changed)
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


async def notice_texts(*, engine: AsyncEngine, site_id: str) -> dict[tuple[int, str], str]:
    """Every text the site has published, by (version, purpose)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                consent_notice_texts.c.version,
                consent_notice_texts.c.purpose,
                consent_notice_texts.c.text,
            ).where(consent_notice_texts.c.site_id == site_id)
        )
        return {(row.version, row.purpose): row.text for row in rows}


async def set_lifetime(
    *, engine: AsyncEngine, site_id: str, purpose: str, days: int | None
) -> timedelta:
    """Set how long consent to `purpose` lasts (None: the default); from the next decision on.

    Consent already given keeps the expiry it was recorded (and receipted) with.
    """
    if days is not None and not 1 <= days <= MAX_LIFETIME.days:
        raise ValueError(f"a lifetime is 1 to {MAX_LIFETIME.days} days")
    async with engine.begin() as conn:
        (await load_notice(conn=conn, site_id=site_id)).purpose(purpose)
        await conn.execute(
            update(consent_purposes)
            .where(consent_purposes.c.site_id == site_id, consent_purposes.c.purpose == purpose)
            .values(lifetime_days=days)
        )
    return timedelta(days=days) if days else CONSENT_LIFETIME
