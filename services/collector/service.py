"""Event intake: site lookup, origin check, cookieless visitor hash, queueing."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import orjson
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.collector.exceptions import UnknownSite, WrongOrigin
from services.collector.schemas import EventIn
from shared.db import visitor_salts
from shared.dialect import insert_if_absent
from shared.queue import EventQueue
from shared.sites import Site, get_site, host_belongs_to

log = logging.getLogger("overt.collector")

SITE_CACHE_SECONDS = 30.0


@dataclass(slots=True)
class SiteCache:
    """Sites by id, held briefly so intake does not query the database per event."""

    engine: AsyncEngine
    entries: dict[str, tuple[float, Site | None]] = field(default_factory=dict)

    async def get(self, site_id: str) -> Site | None:
        now = time.monotonic()
        hit = self.entries.get(site_id)
        if hit is not None and now - hit[0] < SITE_CACHE_SECONDS:
            return hit[1]
        site = await get_site(engine=self.engine, site_id=site_id)
        if len(self.entries) > 10_000:
            self.entries.clear()
        self.entries[site_id] = (now, site)
        return site


@dataclass(slots=True)
class DailySalt:
    """Today's random salt, shared by all collectors through the database.

    A new day gets a new random salt and every older one is deleted, so no one (not even
    the operator) can link a visitor hash across days.
    """

    engine: AsyncEngine
    day: date | None = None
    salt: bytes = b""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def current(self, today: date) -> bytes:
        if self.day == today:
            return self.salt
        async with self.lock:
            if self.day != today:
                self.salt = await rotate_salt(engine=self.engine, today=today)
                self.day = today
        return self.salt


async def rotate_salt(*, engine: AsyncEngine, today: date) -> bytes:
    """Create today's salt once (race-free across collectors), destroy older ones."""
    async with engine.begin() as conn:
        await insert_if_absent(conn, visitor_salts, {"day": today, "salt": secrets.token_bytes(32)})
        salt = (
            await conn.execute(select(visitor_salts.c.salt).where(visitor_salts.c.day == today))
        ).scalar_one()
        removed = await conn.execute(delete(visitor_salts).where(visitor_salts.c.day < today))
    if removed.rowcount:
        log.info(
            "visitor salt rotated", extra={"day": today.isoformat(), "destroyed": removed.rowcount}
        )
    return bytes(salt)


def visitor_hash(*, salt: bytes, site_id: str, ip: str, user_agent: str) -> int:
    """H(daily salt, site, IP, User-Agent) as a signed 64-bit integer; IP and UA are not kept."""
    digest = hashlib.blake2b(
        b"\x00".join((site_id.encode(), ip.encode(), user_agent.encode())),
        key=salt,
        digest_size=8,
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def strip_query(url: str | None) -> str | None:
    """scheme://host/path of a URL, without query or fragment (they may carry personal data)."""
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:2048]


@dataclass(slots=True)
class Intake:
    """Everything `/e` needs, built once per process."""

    sites: SiteCache
    salt: DailySalt
    queue: EventQueue

    async def accept(self, event: EventIn, *, origin: str | None, ip: str, user_agent: str) -> None:
        """Check the event against its site, derive the visitor hash and queue it durably."""
        site = await self.sites.get(event.site_id)
        if site is None:
            raise UnknownSite()
        host = event.url.host or ""
        origin_host = urlsplit(origin).hostname if origin and origin != "null" else None
        if origin is not None and not (origin_host and host_belongs_to(origin_host, site.domain)):
            raise WrongOrigin(site.domain)
        if not host_belongs_to(host, site.domain):
            raise WrongOrigin(site.domain)
        now = datetime.now(UTC)
        salt = await self.salt.current(now.date())
        record = {
            "id": event.event_id.hex,
            "site": site.id,
            "ts": int(now.timestamp() * 1000),
            "name": event.name,
            "visitor": visitor_hash(salt=salt, site_id=site.id, ip=ip, user_agent=user_agent),
            "host": host,
            "path": (event.url.path or "/")[:2048],
            "referrer": strip_query(event.referrer),
        }
        await self.queue.publish(orjson.dumps([record]))
