"""The first run in a real Chromium, from an empty database: the setup link `overt up`
printed, the owner, the first site, a visit to a page with the tag, and "received"
appearing on the waiting page without a reload."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.helpers.browser import DESKTOP_CHROME, Server
from tests.helpers.pages import watch
from tests.helpers.web import PASSWORD
from tests.helpers.web_browser import screenshot_dir, screenshots

pytestmark = [pytest.mark.anyio, pytest.mark.browser]


def printed_setup_link(server: Server) -> str:
    log = server.log_path.read_text()
    links: list[str] = re.findall(r"(http://\S+/app/setup\?token=[A-Za-z0-9_-]{43})", log)
    assert len(links) == 1, log
    token = links[0].rsplit("=", 1)[1]
    for line in log.splitlines():  # printed to the console, never in a log record
        if line.startswith("{"):
            assert token not in line
    return links[0]


async def test_first_run_from_an_empty_database(
    server: Server, browser: Browser, page_origin: tuple[str, Path], tmp_path: Path
) -> None:
    shots = screenshot_dir(tmp_path)
    link = printed_setup_link(server)
    assert link.startswith(server.base_url)
    context = await browser.new_context(user_agent=DESKTOP_CHROME)
    page = await context.new_page()
    errors = watch(page)

    await page.goto(link)
    await expect(page.get_by_role("heading", name="Create the owner account")).to_be_visible()
    await screenshots(page, shots, "setup-owner")
    await page.get_by_label("E-mail").fill("owner@example.com")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Password, again").fill(PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Create account").click()
    assert page.url == f"{server.base_url}/app/sites/new"

    # app.js put the browser's own zone in place of UTC.
    browser_zone = await page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    await expect(page.get_by_label("Time zone")).to_have_value(browser_zone)
    await screenshots(page, shots, "setup-site")
    await page.get_by_label("Domain").fill("localhost")
    await page.get_by_label("Time zone").fill("Europe/Paris")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Add site").click()
    site_id = re.fullmatch(rf"{server.base_url}/app/sites/([0-9a-f]+)/setup", page.url)
    assert site_id is not None
    tag = (await page.locator("#script-tag").inner_text()).strip()
    assert tag == (
        f'<script defer src="{server.base_url}/overt.js" data-site="{site_id.group(1)}"></script>'
    )
    status = page.get_by_role("status")
    await expect(status).to_contain_text("Waiting for your first visit")
    await screenshots(page, shots, "setup-waiting")

    # A visitor opens a page of the site that carries the tag, in another browser.
    origin, root = page_origin
    origin = origin.replace("127.0.0.1", "localhost")
    (root / "index.html").write_text(
        f"<!doctype html><html><head>{tag}<title>Home</title></head><body>Hi</body></html>"
    )
    visitor = await browser.new_context(user_agent=DESKTOP_CHROME)
    await (await visitor.new_page()).goto(f"{origin}/index.html")

    # The waiting page learns it by itself: no reload, htmx polls the box.
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    await expect(status).to_contain_text("Your first visit was received.", timeout=20_000)
    assert navigations == []
    await expect(page.get_by_role("link", name="Go to the dashboard")).to_have_attribute(
        "href", f"/app/sites/{site_id.group(1)}"
    )
    await screenshots(page, shots, "setup-received")
    await asyncio.sleep(0)
    assert errors == []
    await visitor.close()
    await context.close()


# Screenshots only: `make screenshots` takes the login page on every run of it.
@pytest.mark.nightly
async def test_the_login_page_in_light_and_dark(
    server: Server, browser: Browser, tmp_path: Path
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{server.base_url}/app/login")
    await expect(page.get_by_text("No account exists yet.")).to_be_visible()
    taken = await screenshots(page, screenshot_dir(tmp_path), "login")
    assert all(path.stat().st_size > 1000 for path in taken)
    await context.close()
