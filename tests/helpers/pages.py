"""What the browser tests of consent read back: a page's errors, the widget's stored record,
and the events the ingest worker stored for a site."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from playwright.async_api import Page
from sqlalchemy import select

from shared.db import create_engine
from shared.models import events
from tests.helpers.browser import Server


def watch(page: Page) -> list[str]:
    """The page's uncaught errors and console errors, as they come."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


async def stored(page: Page, site_id: str) -> dict[str, Any] | None:
    """The consent record the widget (or a CMP bridge) keeps in the site's localStorage."""
    raw = await page.evaluate(f"localStorage.getItem('overt_consent_{site_id}')")
    return json.loads(raw) if raw else None


async def wait_stored(page: Page, site_id: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while (value := await stored(page, site_id)) is None:
            await asyncio.sleep(0.05)
    return value


async def stored_events(server: Server, site_id: str, name: str) -> list[Any]:
    """The site's stored events called `name`, oldest first: path, tier-1 id, subject."""
    engine = create_engine(server.settings)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(events.c.name, events.c.path, events.c.analytics_id, events.c.subject_id)
                .where(events.c.site_id == site_id, events.c.name == name)
                .order_by(events.c.occurred_at)
            )
            return list(rows)
    finally:
        await engine.dispose()


async def wait_events(server: Server, site_id: str, name: str, count: int = 1) -> list[Any]:
    async with asyncio.timeout(20):
        while len(rows := await stored_events(server, site_id, name)) < count:
            await asyncio.sleep(0.1)
    return rows
