"""A running `overt up` with a site, visits and a signed-in browser: what the dashboard's
browser tests and `make screenshots` start from."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import BrowserContext, Page
from sqlalchemy import func, select

from services.api.web.accounts.service import start_session
from services.api.web.auth import SESSION_COOKIE
from shared.db import create_engine
from shared.models import events
from shared.settings import Settings
from tests.helpers.overt import Overt
from tests.helpers.traffic import days
from tests.helpers.web import member


async def signed_in(overt: Overt, role: str, email: str | None = None) -> httpx.AsyncClient:
    """A client of the same app, signed in as a new user with `role` on the test site."""
    engine = overt.resources.engine
    user_id = await member(engine, email or f"{role}@example.com", overt.site.id, role)
    token = await start_session(engine=engine, user_id=user_id)
    client = httpx.AsyncClient(
        transport=overt.client._transport, base_url=str(overt.client.base_url)
    )
    client.cookies.set(SESSION_COOKIE, token)
    return client


def screen_query() -> str:
    """The dashboard's address part for the two days tests/helpers/traffic.py sends."""
    first, last = days()
    return f"?period=custom&from={first}&to={last}"


AXE = Path(__file__).parents[1] / "vendor" / "axe-core" / "axe.min.js"
DOMAIN = "dash.example"
GOOGLE, BING = "https://www.google.com/", "https://www.bing.com/"


@dataclass
class Visit:
    who: str
    path: str
    referrer: str | None = None
    engaged_ms: int | None = None


# 6 engaged from Google on /pricing, 6 direct on / (b0 also on /docs), 3 from Bing on /blog.
VISITS = (
    [Visit(f"g{i}", "/pricing", GOOGLE, 12_000 + 1000 * i) for i in range(6)]
    + [Visit(f"d{i}", "/", None, 1000 * (i + 1)) for i in range(6)]
    + [Visit(f"b{i}", "/blog", BING) for i in range(3)]
)


async def send_visit(base_url: str, site_id: str, domain: str, visit: Visit) -> None:
    """A pageview (and its engagement) through POST /e, as the snippet sends it."""
    view: dict[str, Any] = {
        "s": site_id,
        "n": "pageview",
        "u": f"https://{domain}{visit.path}",
        "r": visit.referrer,
        "i": uuid.uuid4().hex,
    }
    batch = [view]
    if visit.engaged_ms is not None:
        batch.append(
            {
                "s": site_id,
                "n": "engagement",
                "u": view["u"],
                "r": None,
                "i": uuid.uuid4().hex,
                "v": view["i"],
                "e": visit.engaged_ms,
            }
        )
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post(
            "/e",
            content=json.dumps(batch),
            headers={
                "content-type": "text/plain",
                "origin": f"https://{domain}",
                "user-agent": f"Mozilla/5.0 (X11; Linux x86_64) Visitor-{visit.who}/1.0",
            },
        )
    assert response.status_code == 202, response.text


async def visitors_stored(settings: Settings, site_id: str, at_least: int) -> None:
    """Wait (bounded) until the worker has stored `at_least` distinct visitors' pageviews."""
    engine = create_engine(settings)
    try:
        async with asyncio.timeout(30):
            while True:
                async with engine.connect() as conn:
                    count = (
                        await conn.execute(
                            select(func.count(events.c.visitor_hash.distinct())).where(
                                events.c.site_id == site_id, events.c.name == "pageview"
                            )
                        )
                    ).scalar_one()
                if count >= at_least:
                    return
                await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


async def user_session(settings: Settings, site_id: str, role: str, email: str) -> str:
    """A new user with `role` on the site, and a session token for them."""
    engine = create_engine(settings)
    try:
        user_id = await member(engine, email, site_id, role)
        return await start_session(engine=engine, user_id=user_id)
    finally:
        await engine.dispose()


async def sign_in(context: BrowserContext, base_url: str, token: str) -> None:
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": base_url}])


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (injected by the
    test through the DevTools protocol: the page's CSP is not loosened for it)."""
    await page.evaluate(AXE.read_text())
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ["violations"]});
          return result.violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
        }"""
    )
    return found
