"""Plausible's own npm tracker, pointed at Overt, in Debian's headless Chromium: a site that
leaves Plausible changes one URL (`endpoint`) and its pageviews, custom events with props
and outbound clicks are counted by /v1/query.

The tracker is `@plausible-analytics/tracker` 0.4.6 (MIT), vendored unchanged in
plausible_tracker/ (VERSION, SHA256SUMS, LICENSE.md): an ES module with no imports, so the
page loads it as it is (`<script type="module">`), no bundler. To re-vendor:
`npm pack @plausible-analytics/tracker@VERSION`, copy package/plausible.js and LICENSE.md,
and write new sums.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser
from sqlalchemy import select

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from shared.db import create_engine
from shared.models import events
from tests.helpers.browser import DESKTOP_CHROME, Server

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

TRACKER = Path(__file__).resolve().parent / "plausible_tracker"
OUTBOUND = "https://outbound.example/pricing-comparison"


def test_the_vendored_tracker_is_the_pinned_release() -> None:
    assert (TRACKER / "VERSION").read_text().strip() == "0.4.6"
    for line in (TRACKER / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((TRACKER / name).read_bytes()).hexdigest() == digest, name


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head>"
        f'<script type="module" src="/app.js"></script><title>{title}</title></head>'
        f"<body><h1>{title}</h1>{body}</body></html>"
    )


async def stored_names(server: Server, site_id: str) -> list[tuple[str, str, Any]]:
    """The site's stored events but engagement (the tracker's timing decides those)."""
    engine = create_engine(server.settings)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(events.c.name, events.c.path, events.c.props).where(
                        events.c.site_id == site_id, events.c.name != "engagement"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    return [(row.name, row.path, row.props) for row in rows]


async def test_plausibles_npm_tracker_is_counted(
    server: Server, browser: Browser, page_origin: tuple[str, Path]
) -> None:
    origin, root = page_origin
    origin = origin.replace("127.0.0.1", "localhost")  # the collector stays on 127.0.0.1
    site = server.cli("site", "add", "localhost")
    key = server.cli("key", "create", "--site", site["id"], "--scope", "stats:read")["key"]
    shutil.copy(TRACKER / "plausible.js", root / "plausible.js")
    options = {
        "domain": "localhost",
        "endpoint": f"{server.base_url}/api/event",
        "outboundLinks": True,
        "captureOnLocalhost": True,
    }
    (root / "app.js").write_text(
        "import { init, track } from './plausible.js'\n"
        f"init({json.dumps(options)})\n"
        "document.getElementById('signup')?.addEventListener('click', () =>\n"
        "  track('Signup', { props: { plan: 'pro', seats: 3 } }))\n"
    )
    (root / "index.html").write_text(page("Home", '<a id="next" href="/pricing.html">Pricing</a>'))
    (root / "pricing.html").write_text(
        page(
            "Pricing",
            '<button id="signup">Sign up</button>'
            f'<a id="out" href="{OUTBOUND}">Compare elsewhere</a>',
        )
    )

    # Headless Chromium says "HeadlessChrome" (a bot to Overt) and Playwright sets
    # navigator.webdriver (ignored by the tracker unless `window.__plausible` is set, as
    # Plausible's own tests do): browse as a person.
    context = await browser.new_context(user_agent=DESKTOP_CHROME)
    await context.add_init_script("window.__plausible = true")
    tab = await context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    await tab.goto(f"{origin}/index.html")
    async with tab.expect_request(f"{server.base_url}/api/event"):
        await tab.click("#next")
    await tab.wait_for_url("**/pricing.html")
    async with tab.expect_request(f"{server.base_url}/api/event") as signup:
        await tab.click("#signup")
    assert json.loads((await signup.value).post_data or "{}")["n"] == "Signup"
    async with tab.expect_request(f"{server.base_url}/api/event") as outbound:
        await tab.click("#out")
    assert json.loads((await outbound.value).post_data or "{}")["n"] == "Outbound Link: Click"

    async with asyncio.timeout(20):
        while len(names := await stored_names(server, site["id"])) < 4:
            await asyncio.sleep(0.1)
    await context.close()
    assert errors == []
    assert sorted((name, path) for name, path, _ in names) == [
        ("Signup", "/pricing.html"),
        ("outbound", "/pricing.html"),
        ("pageview", "/index.html"),
        ("pageview", "/pricing.html"),
    ]
    props = {name: value for name, _, value in names}
    assert props["Signup"] == {"plan": "pro", "seats": 3}  # typed as the tracker sent them
    assert props["outbound"] == {"url": OUTBOUND}

    # Counted by the API (k = 1: a test site's one visitor is not folded away).
    engine = create_engine(server.settings)
    try:
        await store_definition(engine=engine, site_id=site["id"], body=DefinitionIn(k=1))
    finally:
        await engine.dispose()
    today = datetime.now(UTC).date().isoformat()
    async with httpx.AsyncClient(base_url=server.base_url) as client:

        async def query(**body: Any) -> list[list[Any]]:
            response = await client.post(
                "/v1/query",
                json={"site_id": site["id"], "date_range": [today, today], **body},
                headers={"authorization": f"Bearer {key}"},
            )
            assert response.status_code == 200, response.text
            return [[row["dimensions"], row["metrics"]] for row in response.json()["results"]]

        assert await query(metrics=["visitors", "pageviews"]) == [[[], [1, 2]]]
        goals = await query(metrics=["conversions"], dimensions=["goal", "prop:plan", "prop:seats"])
        assert goals == [[["Signup", "pro", "3"], [1]]]
        clicked = {"dimension": "prop:url", "op": "is", "values": [OUTBOUND]}
        assert await query(metrics=["visitors"], filters=clicked) == [[[], [1]]]
