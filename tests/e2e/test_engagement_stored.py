"""Through the real collector and worker, in real Chromium: engaged time and scroll depth
end up in the database within tolerance, and a consent-required site stores nothing until
the visitor opts in (then the buffered events, with their original times)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser
from sqlalchemy import select

from shared.db import create_engine
from shared.models import events, sessions
from tests.helpers.browser import DESKTOP_CHROME, Server, stay_active

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

TALL = '<div style="height: 5000px">Long read</div><p id="end">End</p>'


async def rows(server: Server, table: Any) -> list[dict[str, Any]]:
    engine = create_engine(server.settings)
    try:
        async with engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(select(table))).mappings()]
    finally:
        await engine.dispose()


def write_page(root: Path, name: str, script_tag: str, body: str, extra: str = "") -> None:
    (root / name).write_text(
        f"<!doctype html><html><head>{script_tag.replace('<script ', '<script ' + extra)}"
        f"<title>{name}</title></head><body>{body}</body></html>"
    )


@pytest.mark.nightly  # test_snippet_tracking's twins of this run in make test
async def test_engaged_time_and_scroll_depth_are_stored(
    server: Server, browser: Browser, page_origin: tuple[str, Path]
) -> None:
    origin, root = page_origin
    origin = origin.replace("127.0.0.1", "localhost")
    site = server.cli("site", "add", "localhost")
    write_page(root, "article.html", site["script_tag"], TALL)

    context = await browser.new_context(user_agent=DESKTOP_CHROME)
    page = await context.new_page()
    await page.goto(f"{origin}/article.html")
    opened = time.monotonic()
    await stay_active(page, 2.0)
    await page.mouse.wheel(0, 6000)  # to the bottom
    await stay_active(page, 2.0)
    active_seconds = time.monotonic() - opened
    await page.close(run_before_unload=True)  # pagehide: the last engagement report goes out
    await context.close()

    async with asyncio.timeout(20):
        while not [s for s in await rows(server, sessions) if s["engaged_ms"]]:
            await asyncio.sleep(0.2)
    [session] = await rows(server, sessions)
    # Tolerance: the page is active from load to close; 1.5 s either way covers the load,
    # the 250 ms input cadence and the time the close takes.
    assert abs(session["engaged_ms"] - active_seconds * 1000) <= 1500, (
        session["engaged_ms"],
        active_seconds,
    )
    assert session["max_scroll_depth"] >= 95
    assert session["pageviews"] == 1
    assert session["entry_path"] == "/article.html"


@pytest.mark.nightly  # test_snippet_tracking's twins of this run in make test
async def test_consent_required_site_stores_nothing_until_opt_in(
    server: Server, browser: Browser, page_origin: tuple[str, Path]
) -> None:
    origin, root = page_origin
    origin = origin.replace("127.0.0.1", "localhost")
    site = server.cli("site", "add", "localhost")
    write_page(
        root, "landing.html", site["script_tag"], "<h1>Hi</h1>", extra='data-consent="required" '
    )

    context = await browser.new_context(user_agent=DESKTOP_CHROME)
    page = await context.new_page()
    await page.goto(f"{origin}/landing.html")
    loaded = datetime.now(UTC)
    await page.evaluate("overt('Signup', {props: {plan: 'pro'}})")
    await asyncio.sleep(2.5)  # time for anything (wrongly) sent to be stored
    assert await rows(server, events) == []

    await page.evaluate("overt('consent', {analytics: true})")
    async with asyncio.timeout(20):
        while len(stored := await rows(server, events)) < 2:
            await asyncio.sleep(0.2)
    await context.close()
    names = sorted(row["name"] for row in stored)
    assert names == ["Signup", "pageview"]
    pageview = next(row for row in stored if row["name"] == "pageview")
    # Replayed with the original time (page load), not the opt-in time 2.5 s later.
    assert abs(pageview["occurred_at"] - loaded) < timedelta(seconds=1.5)
    assert all(row["analytics_id"] for row in stored)  # tier 1 after analytics consent
