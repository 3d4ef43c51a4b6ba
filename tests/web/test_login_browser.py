"""Signing in with a real Chromium: the page works under its CSP, with and without JS."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page

from tests.helpers.browser import Server
from tests.helpers.pages import watch
from tests.helpers.web_browser import Owner, sign_in_page

pytestmark = [pytest.mark.anyio, pytest.mark.browser]


async def test_signing_in_leads_to_the_sites(
    browser: Browser, server: Server, owner: Owner
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    errors = watch(page)
    await page.goto(f"{server.base_url}/")
    assert page.url == f"{server.base_url}/app/login?next=/app/"
    await sign_in_page(page, server, owner.email, "wrong password")
    assert await page.get_by_role("alert").inner_text() == (
        "That e-mail address and password do not match."
    )
    await page.goto(f"{server.base_url}/app/login")
    await sign_in_page(page, server, owner.email, owner.password)
    assert page.url == f"{server.base_url}/app/"
    assert await page.get_by_role("link", name="example.com").count() >= 1
    # htmx loaded and configured (its script ran under the CSP, nothing was refused).
    assert await page.evaluate("typeof htmx === 'object' && htmx.config.allowEval === false")
    # Nothing refused by the CSP, nothing missing; the one failed load is the 400 above.
    assert [error for error in errors if "status of 400" not in error] == []
    await context.close()


# The menu's button in a browser; test_auth's sign-out test proves the session ends, in make test.
@pytest.mark.nightly
async def test_signing_out(signed_in: Page, server: Server) -> None:
    await signed_in.get_by_text("owner@example.com").click()
    async with signed_in.expect_navigation():
        await signed_in.get_by_role("button", name="Sign out").click()
    assert signed_in.url == f"{server.base_url}/app/login"
    await signed_in.goto(f"{server.base_url}/app/")
    assert signed_in.url.startswith(f"{server.base_url}/app/login")
