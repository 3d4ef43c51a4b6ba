"""What the web app refuses, in a real Chromium: signed out every page leads to sign-in; a
viewer reaches no settings; a forged form is refused; sign-in is rate limited; the second
factor is asked."""

from __future__ import annotations

import time
from pathlib import Path

import pyotp
import pytest
from playwright.async_api import Browser, Page, expect

from shared.db import create_engine
from tests.helpers.browser import Server
from tests.helpers.web import PASSWORD, member
from tests.helpers.web_browser import Owner, screenshot_dir, screenshots, sign_in_page

pytestmark = [pytest.mark.anyio, pytest.mark.browser]


def app_pages(site_id: str) -> list[str]:
    return [
        "/app/",
        "/app/account",
        "/app/sites/new",
        f"/app/sites/{site_id}/setup",
        f"/app/sites/{site_id}/settings/team",
        f"/app/sites/{site_id}/settings/keys",
    ]


async def test_signed_out_every_page_leads_to_sign_in(
    browser: Browser, server: Server, owner: Owner
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    for path in app_pages(owner.site.id):
        await page.goto(server.base_url + path)
        assert page.url == f"{server.base_url}/app/login?next={path}", path
    # ... and back to the page asked for, once signed in.
    await sign_in_page(page, server, owner.email, owner.password)
    assert page.url == f"{server.base_url}/app/"
    await page.goto(f"{server.base_url}/app/sites/{owner.site.id}/settings/keys")
    await expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    await context.close()


async def test_a_viewer_reaches_no_settings(browser: Browser, server: Server, owner: Owner) -> None:
    engine = create_engine(server.settings)
    try:
        await member(engine, "viewer@example.com", owner.site.id, role="viewer")
    finally:
        await engine.dispose()
    context = await browser.new_context()
    page = await context.new_page()
    await sign_in_page(page, server, "viewer@example.com", PASSWORD)
    for path in app_pages(owner.site.id)[3:]:
        answer = await page.goto(server.base_url + path)
        assert answer is not None, path
        assert answer.status == 403, path
        await expect(
            page.get_by_role("heading", name="This page needs the admin role")
        ).to_be_visible()
    await context.close()


async def test_a_form_from_another_page_is_refused(
    browser: Browser, server: Server, owner: Owner, page_origin: tuple[str, Path]
) -> None:
    # A page of another origin posts the sign-out form on the signed-in user's behalf.
    origin, root = page_origin
    (root / "forge.html").write_text(
        f'<!doctype html><form method="post" action="{server.base_url}/app/logout">'
        '<input type="hidden" name="csrf_token" value="forged"><button>Go</button></form>'
    )
    context = await browser.new_context()
    page = await context.new_page()
    await sign_in_page(page, server, owner.email, owner.password)
    await page.goto(f"{origin}/forge.html")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Go").click()
    await expect(page.get_by_role("heading", name="Form expired or forged")).to_be_visible()
    await page.goto(f"{server.base_url}/app/")
    assert page.url == f"{server.base_url}/app/"  # still signed in
    await context.close()


# The refusal page in a browser; test_auth's per-account and per-client limits run in make test.
@pytest.mark.nightly
async def test_sign_in_is_rate_limited(browser: Browser, server: Server, owner: Owner) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    for _ in range(server.settings.login_account_rate_limit):
        await sign_in_page(page, server, owner.email, "not the password")
        await expect(page.get_by_role("alert")).to_contain_text("do not match")
    await sign_in_page(page, server, owner.email, owner.password)
    await expect(page.get_by_role("heading", name="Too many sign-in attempts")).to_be_visible()
    assert page.url.startswith(f"{server.base_url}/app/login")
    await context.close()


# The code typed in a browser; test_totp's sign-in, replay and reset tests run in make test.
@pytest.mark.nightly
async def test_sign_in_with_the_second_factor(
    signed_in: Page, server: Server, owner: Owner, browser: Browser, tmp_path: Path
) -> None:
    shots = screenshot_dir(tmp_path)
    page = signed_in
    await page.goto(f"{server.base_url}/app/account")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Set up two-step sign-in").click()
    await expect(page.get_by_role("img", name="QR code")).to_be_visible()
    await screenshots(page, shots, "totp-enrol")
    key = (await page.locator("#totp-key").inner_text()).strip()
    await page.get_by_label("The 6-digit code the app shows").fill(pyotp.TOTP(key).now())
    async with page.expect_navigation():
        await page.get_by_role("button", name="Turn on").click()
    await expect(page.get_by_role("heading", name="Two-step sign-in is on")).to_be_visible()

    context = await browser.new_context()
    other = await context.new_page()
    await sign_in_page(other, server, owner.email, owner.password)
    assert other.url.startswith(f"{server.base_url}/app/login/totp")
    await screenshots(other, shots, "totp-login")
    # The next step's code: the current one turned the second factor on, and is used.
    await other.get_by_label("Code", exact=True).fill(pyotp.TOTP(key).at(time.time() + 30))
    async with other.expect_navigation():
        await other.get_by_role("button", name="Sign in").click()
    assert other.url == f"{server.base_url}/app/"
    await context.close()
