"""/docs in a real browser: Swagger UI renders from Overt's own assets under the page's CSP
(no request leaves the origin, no CSP violation), and "try it out" reaches the API."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, ConsoleMessage, Request

from tests.helpers.browser import Server

pytestmark = [pytest.mark.anyio, pytest.mark.browser]


@pytest.mark.nightly  # tests/shared's docs tests check the vendored assets and CSP over HTTP
async def test_docs_render_offline_under_the_csp(server: Server, browser: Browser) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    console: list[str] = []
    requested: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        console.append(message.text)

    def on_request(request: Request) -> None:
        requested.append(request.url)

    page.on("console", on_console)
    page.on("request", on_request)
    await page.goto(f"{server.base_url}/docs")
    await page.locator(".opblock").first.wait_for(timeout=30_000)
    assert await page.locator(".opblock").count() > 10  # every operation of every service
    health = page.locator(".opblock", has_text="/healthz").first
    await health.locator(".opblock-summary").click()
    await health.get_by_role("button", name="Try it out").click()
    await health.get_by_role("button", name="Execute").click()
    status = health.locator(".live-responses-table .response .response-col_status").first
    await status.wait_for(timeout=30_000)
    assert (await status.inner_text()).strip() == "200"
    await context.close()

    origin = urlsplit(server.base_url).netloc
    assert {urlsplit(url).netloc for url in requested} == {origin}
    assert not [text for text in console if "Content Security Policy" in text], console
