"""The dashboard in Debian's Chromium against `overt up`, on both backends: clicks, presets
and the comparison change the numbers to what /v1/query says; the realtime number moves
without a reload; a shared link shows the dashboard read-only and nothing else; axe-core
finds no serious or critical violation on any of these pages, light or dark."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from tests.helpers.browser import Server
from tests.helpers.dashboard import (
    DOMAIN,
    VISITS,
    Visit,
    axe_violations,
    send_visit,
    sign_in,
    user_session,
    visitors_stored,
)
from tests.helpers.pages import watch

# A shared 2-CPU machine: starting `overt up`, Chromium and axe-core (light and dark) takes time.
pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.timeout(420)]


async def seeded(server: Server) -> tuple[str, str]:
    """A site with VISITS stored, and a stats key for /v1/query."""
    site_id = server.cli("site", "add", DOMAIN)["id"]
    key = server.cli("key", "create", "--site", site_id, "--scope", "stats:read")["key"]
    for visit in VISITS:
        await send_visit(server.base_url, site_id, DOMAIN, visit)
    await visitors_stored(server.settings, site_id, len(VISITS))
    return site_id, key


async def v1(server: Server, key: str, **body: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.post(
            "/v1/query", json=body, headers={"authorization": f"Bearer {key}"}
        )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def failures(page: Page) -> list[str]:
    """The page's uncaught errors and its requests answered 4xx/5xx (but a favicon's)."""
    found = watch(page)
    page.on(
        "response",
        lambda response: (
            found.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico")
            else None
        ),
    )
    return found


def errors_but_resources(found: list[str]) -> list[str]:
    """Console errors other than Chromium's 'failed to load' (failures() lists those)."""
    return [text for text in found if not text.startswith("Failed to load resource")]


async def tile(page: Page, metric: str) -> str:
    return (await page.locator(f'[data-metric="{metric}"]').inner_text()).strip()


async def assert_accessible(page: Page) -> None:
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        assert await axe_violations(page) == [], (scheme, page.url)


async def test_filters_presets_and_comparison_give_v1_querys_numbers(
    server: Server, browser: Browser
) -> None:
    site_id, key = await seeded(server)
    token = await user_session(server.settings, site_id, "admin", "admin@dash.example")
    context = await browser.new_context()
    await sign_in(context, server.base_url, token)
    page = await context.new_page()
    errors = failures(page)
    await page.goto(f"{server.base_url}/app/sites/{site_id}?period=day")
    total = await v1(server, key, site_id=site_id, metrics=["visitors"], date_range="day")
    assert await tile(page, "visitors") == str(total["results"][0]["metrics"][0]) == "15"
    await page.locator("#chart canvas").first.wait_for()  # uPlot drew the series
    await assert_accessible(page)

    # Click a source: the screen is filtered by it, as /v1/query answers with the filter.
    await page.locator("#panel-sources a", has_text="Google").click()
    await page.wait_for_url("**f=is%2Csource%2CGoogle**")
    google = await v1(
        server,
        key,
        site_id=site_id,
        metrics=["visitors", "pageviews"],
        date_range="day",
        filters={"dimension": "source", "op": "is", "values": ["Google"]},
    )
    assert [await tile(page, "visitors"), await tile(page, "pageviews")] == [
        str(value) for value in google["results"][0]["metrics"]
    ]
    assert await page.locator(".chip", has_text="source is Google").count() == 1
    await page.get_by_role("link", name="Remove filter: source is Google").click()
    await page.wait_for_function("!location.search.includes('source')")
    assert await tile(page, "visitors") == "15"

    # A preset and the comparison: the tiles and their change are /v1/query's.
    await page.locator("summary", has_text="Today").click()
    await page.get_by_role("link", name="Last 7 days").click()
    await page.wait_for_url("**period=7d**")
    await page.locator("summary", has_text="No comparison").click()
    await page.get_by_role("link", name="Previous period").click()
    await page.wait_for_url("**compare=previous_period**")
    week = await v1(
        server,
        key,
        site_id=site_id,
        metrics=["visitors", "bounce_rate"],
        date_range="7d",
        comparisons={"mode": "previous_period"},
    )
    row = week["results"][0]
    assert await tile(page, "visitors") == str(row["metrics"][0])
    assert await tile(page, "bounce_rate") == f"{row['metrics'][1]:g}%"
    change = page.locator(".tile", has=page.locator('[data-metric="visitors"]')).locator(
        ".tile-change"
    )
    assert (await change.inner_text()).startswith(f"+{row['comparison']['change'][0]}%")

    # A tab through htmx, and "show more" rows without a reload.
    await page.evaluate("window.stillHere = true")
    await page.locator("#panel-pages").get_by_role("link", name="Entry pages").click()
    await page.locator("#panel-pages th", has_text="Page").first.wait_for()
    await page.wait_for_url("**tab=entry_page**")
    assert await page.evaluate("window.stillHere === true")
    await assert_accessible(page)
    assert errors_but_resources(errors) == [], errors
    await context.close()


@pytest.mark.nightly  # make test keeps the filters test; tests/web proves these over HTTP
async def test_the_realtime_number_moves_without_a_reload(server: Server, browser: Browser) -> None:
    site_id = server.cli("site", "add", DOMAIN)["id"]
    token = await user_session(server.settings, site_id, "viewer", "viewer@dash.example")
    context = await browser.new_context()
    await sign_in(context, server.base_url, token)
    page = await context.new_page()
    await page.goto(f"{server.base_url}/app/sites/{site_id}/realtime")
    number = page.locator("[data-realtime-visitors]")
    assert (await number.inner_text()).strip() == "0"
    await assert_accessible(page)
    # A phone's width: the top bar (site switcher, the user's e-mail) never scrolls it sideways.
    await page.set_viewport_size({"width": 390, "height": 800})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.evaluate("window.stillHere = true")
    await send_visit(server.base_url, site_id, DOMAIN, Visit("now", "/pricing", None, 5000))
    async with asyncio.timeout(30):
        while (await number.inner_text()).strip() != "1":
            await asyncio.sleep(0.2)
    assert await page.evaluate("window.stillHere === true")
    await context.close()


@pytest.mark.nightly  # make test keeps the filters test; tests/web proves these over HTTP
async def test_a_shared_link_shows_the_dashboard_read_only(
    server: Server, browser: Browser
) -> None:
    site_id, _ = await seeded(server)
    token = await user_session(server.settings, site_id, "owner", "owner@dash.example")
    context = await browser.new_context()
    await sign_in(context, server.base_url, token)
    page = await context.new_page()
    await page.goto(f"{server.base_url}/app/sites/{site_id}/sharing")
    await assert_accessible(page)
    await page.get_by_label("Name (for you)").fill("Board")
    await page.get_by_role("button", name="Make a link").click()
    link = (await page.locator("#new-link").inner_text()).strip()
    assert "/share/" in link
    await context.close()

    stranger = await browser.new_context()
    shared = await stranger.new_page()
    errors = failures(shared)
    await shared.goto(link + "?period=day")
    assert await tile(shared, "visitors") == "15"
    hrefs = await shared.locator("a[href]").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    # Links stay on this shared dashboard (and the footer's public API documentation).
    inside = [href for href in hrefs if href.startswith("/") or "127.0.0.1" in href]
    assert inside
    assert all(href.startswith(("/share/", link, "/docs")) for href in inside), inside
    assert await shared.locator("form[method=post]").count() == 0
    await assert_accessible(shared)
    assert errors_but_resources(errors) == [], errors
    await stranger.close()
