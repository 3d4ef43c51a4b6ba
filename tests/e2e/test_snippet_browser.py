"""End to end in Debian's headless Chromium: a page with the snippet, counted by the API.

Real processes on loopback: `overt up` (SQLite + in-process queue, or Postgres + Redis),
`overt site add` / `overt key create` through the CLI, a page served from another origin.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser
from sqlalchemy import func, inspect, select, text

from shared.db import create_engine
from shared.models import site_hourly
from shared.settings import Settings, sqlite_path
from tests.helpers.browser import DESKTOP_CHROME, Server

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

VISITOR_IP = "127.0.0.1"


async def metrics(server: Server, site_id: str) -> list[int]:
    """[visitors, pageviews] as the worker's rollups hold them. (The API says the same: a
    site's own total is answered at any size; `api_answers_one_visitor` checks that.)"""
    engine = create_engine(server.settings)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        func.coalesce(func.sum(site_hourly.c.visitors), 0),
                        func.coalesce(func.sum(site_hourly.c.pageviews), 0),
                    ).where(site_hourly.c.site_id == site_id)
                )
            ).one()
    finally:
        await engine.dispose()
    return [int(row[0]), int(row[1])]


async def api_answers_one_visitor(server: Server, site_id: str, key: str) -> None:
    """The site's own total is answered for its one visitor; a breakdown by where the
    visitor came from (a quasi-identifier) folds that visitor away (k-anonymity)."""
    today = datetime.now(UTC).date().isoformat()
    async with httpx.AsyncClient(base_url=server.base_url) as client:

        async def query(**extra: object) -> httpx.Response:
            body = {"site_id": site_id, "metrics": ["visitors", "pageviews"]}
            return await client.post(
                "/v1/query",
                json={**body, "date_range": [today, today], **extra},
                headers={"authorization": f"Bearer {key}"},
            )

        total = await query()
        by_source = await query(dimensions=["utm_source"])
    assert total.status_code == 200, total.text
    assert total.json()["results"] == [{"dimensions": [], "metrics": [1, 1]}]
    assert by_source.status_code == 200, by_source.text
    assert by_source.json()["results"] == []
    assert by_source.json()["meta"]["suppressed"] is True


@pytest.mark.nightly  # test_snippet_tracking counts pageviews from a real browser in make test
async def test_pageview_from_a_real_browser_is_counted(
    server: Server, browser: Browser, page_origin: tuple[str, Path]
) -> None:
    origin, root = page_origin
    # The page is on http://localhost, the collector on 127.0.0.1: the visitor's address
    # (127.0.0.1) is then something the database has no reason to hold, and the sweep
    # below can look for it.
    origin = origin.replace("127.0.0.1", "localhost")
    site = server.cli("site", "add", "localhost")
    key = server.cli("key", "create", "--site", site["id"], "--scope", "stats:read")["key"]
    csp = f"default-src 'none'; script-src {server.base_url}; connect-src {server.base_url}"
    (root / "index.html").write_text(
        "<!doctype html><html><head>"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        f"{site['script_tag']}"
        "<title>Pricing</title></head><body><h1>Pricing</h1></body></html>"
    )
    assert await metrics(server, site["id"]) == [0, 0]

    # Headless Chromium says "HeadlessChrome" and is rightly filtered as a bot: browse as a person.
    context = await browser.new_context(user_agent=DESKTOP_CHROME)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    user_agent = await page.evaluate("navigator.userAgent")
    await page.goto(f"{origin}/index.html?utm_source=test")

    async with asyncio.timeout(20):
        while (counted := await metrics(server, site["id"])) != [1, 1]:
            assert counted[1] <= 1, counted
            await asyncio.sleep(0.1)
    await api_answers_one_visitor(server, site["id"], key)
    assert errors == []
    assert await context.cookies() == []
    assert await page.evaluate("localStorage.length + sessionStorage.length") == 0
    await context.close()

    # Promise 1: neither the IP nor the User-Agent is anywhere in storage or the logs.
    stored = await everything_stored(server.settings)
    logs = server.log_path.read_text()
    for personal in (VISITOR_IP, user_agent, "Chrome/156.0.0.0 Safari"):
        assert personal not in stored
    # The log names the server's own 127.0.0.1 address, so only the User-Agent is looked for
    # there; tests/collector/test_intake.py checks logs for a visitor address of its own.
    for personal in (user_agent, "Chrome/156.0.0.0 Safari"):
        assert personal not in logs
    assert "/index.html" in stored  # the sweep does see what was stored


async def everything_stored(settings: Settings) -> str:
    """Every row of every table (Postgres), or the raw database and WAL files (SQLite)."""
    if settings.is_sqlite:
        path = sqlite_path(settings.database_url)
        files = [path, path.with_name(path.name + "-wal")]
        return "".join(f.read_bytes().decode("latin-1") for f in files if f.exists())
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: inspect(c).get_table_names())
            dumps = [
                repr((await conn.execute(text(f'SELECT * FROM "{name}"'))).all()) for name in names
            ]
    finally:
        await engine.dispose()
    return "\n".join(dumps)
