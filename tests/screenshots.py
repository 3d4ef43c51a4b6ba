"""`make screenshots`: PNGs of every web page, light and dark, wide and narrow, for review.

Starts `overt up` on a fresh SQLite database in a temporary folder, sends the visits of
tests/helpers/dashboard.py, signs in an owner, and saves each page as
var/screenshots/NAME-{light,dark}-{wide,narrow}.png (a page that answers 404, one not built
yet, is listed and skipped). Nothing here is a test: it is for people to look at.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.async_api import Browser, async_playwright

from shared.settings import Settings
from tests.helpers.backends import free_port
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS
from tests.helpers.dashboard import (
    DOMAIN,
    VISITS,
    send_visit,
    sign_in,
    user_session,
    visitors_stored,
)
from tests.helpers.processes import overt_env, start_overt, stop_overt

OUT = Path("var/screenshots")
SIZES = {"wide": (1280, 900), "narrow": (390, 844)}


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # a busy machine starts Python slowly
        check=True,
    )
    return done.stdout


async def share_links(base_url: str, token: str, site_id: str) -> tuple[str, str]:
    """An open shared link and one with a password, made through the sharing page."""
    links = []
    async with httpx.AsyncClient(base_url=base_url, cookies={"overt_session": token}) as client:
        for password in ("", "a long enough password"):
            page = await client.get(f"/app/sites/{site_id}/sharing")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert csrf is not None
            made = await client.post(
                f"/app/sites/{site_id}/sharing",
                data={"csrf_token": csrf.group(1), "label": "Review", "password": password},
            )
            found = re.search(r"/share/[A-Za-z0-9_-]+", made.text)
            assert found is not None, made.text
            links.append(found.group(0))
    return links[0], links[1]


async def posted(base_url: str, token: str, form_page: str, action: str, **fields: str) -> None:
    """A form of `form_page` sent as the owner (with the page's CSRF token)."""
    async with httpx.AsyncClient(base_url=base_url, cookies={"overt_session": token}) as client:
        page = await client.get(form_page)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        sent = await client.post(action, data={"csrf_token": csrf.group(1), **fields})
        assert sent.status_code == 303, sent.text


async def segment_and_rule(base_url: str, token: str, site_id: str) -> None:
    """A saved segment (for the top bar's menu) and an intent rule (for its list)."""
    site = f"/app/sites/{site_id}"
    await posted(base_url, token, site, f"{site}/segments?f=is,source,Google", name="From Google")
    engagement = f"{site}/views/engagement"
    rule = {"kind": "page_repeat", "name": "pricing twice", "pattern": "/pricing*"}
    await posted(
        base_url,
        token,
        engagement,
        f"{engagement}/intent-rules",
        **rule,
        min_visits="2",
        within_days="7",
        version="0",
    )


# Pages shown with a menu of the top bar open: (page name, the menu's summary text).
OPENED = {"dashboard-add-filter": "Add filter", "dashboard-segments": "All visitors"}


async def shoot(browser: Browser, base_url: str, token: str, pages: dict[str, str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        for scheme in ("light", "dark"):
            context = await browser.new_context(
                viewport={"width": width, "height": height},
                color_scheme=scheme,
            )
            await sign_in(context, base_url, token)
            page = await context.new_page()
            for name, path in pages.items():
                if name.startswith("signed-out"):
                    await context.clear_cookies()
                response = await page.goto(base_url + path)
                if response is None or (response.status == 404 and name != "not-found"):
                    print(f"  {name}: {path} answers 404, skipped")
                    continue
                await page.wait_for_load_state("networkidle")
                if name in OPENED:
                    await page.locator("summary", has_text=OPENED[name]).click()
                file = OUT / f"{name}-{scheme}-{size}.png"
                await page.screenshot(path=str(file), full_page=True)
                print(f"  {file}")
                if name.startswith("signed-out"):
                    await sign_in(context, base_url, token)
            await context.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{folder}/overt.db")
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        process = await start_overt(settings, port, Path(folder) / "overt.log")
        try:
            env = overt_env(settings, port)
            site_id = json.loads(cli(env, "site", "add", DOMAIN, "--json"))["id"]
            second = json.loads(cli(env, "site", "add", "second." + DOMAIN, "--json"))["id"]
            for visit in VISITS:
                await send_visit(base_url, site_id, DOMAIN, visit)
            await visitors_stored(settings, site_id, len(VISITS))
            token = await user_session(settings, site_id, "owner", "owner@example.com")
            shared, locked = await share_links(base_url, token, site_id)
            await segment_and_rule(base_url, token, site_id)
            site = f"/app/sites/{site_id}"
            pages = {
                "rollup": "/app/",
                "dashboard": f"{site}?period=day",
                "dashboard-compared": f"{site}?period=7d&compare=previous_period&tab=entry_page",
                "dashboard-filtered": f"{site}?period=day&f=is,source,Google",
                "dashboard-refused": f"{site}?period=day&f=is,source,Bing",
                "dashboard-conditions": f"{site}?period=day&f=is_not,country,DE&f=is_not,country,FR"
                "&f=contains,page,/",
                "dashboard-add-filter": f"{site}?period=day",
                "dashboard-segments": f"{site}?period=day",
                "panel-page": f"{site}/panels/pages?period=day",
                "realtime": f"{site}/realtime",
                "sharing": f"{site}/sharing",
                "settings": f"{site}/settings",
                "views-after-the-click": f"{site}/views/after-click",
                "views-engagement": f"{site}/views/engagement",
                "views-engagement-rule": f"{site}/views/engagement?rule=0",
                "reports": f"{site}/reports",
                "settings-team": f"{site}/settings/team",
                "settings-keys": f"{site}/settings/keys",
                "views-funnels": f"{site}/views/funnels",
                "views-retention": f"{site}/views/retention",
                "views-consent": f"{site}/views/consent",
                "views-contacts": f"{site}/views/contacts",
                "account": "/app/account",
                "not-found": "/app/no-such-page",
                "shared": f"{shared}?period=day",
                "signed-out-shared-password": locked,
                "signed-out-login": "/app/login",
            }
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS
                )
                try:
                    await shoot(browser, base_url, token, pages)
                    # A viewer on an admin's page: the 403 that names the role needed.
                    viewer = await user_session(settings, second, "viewer", "viewer@example.com")
                    await shoot(
                        browser, base_url, viewer, {"forbidden": f"/app/sites/{second}/settings"}
                    )
                finally:
                    await browser.close()
        finally:
            await stop_overt(process, signal.SIGTERM)


if __name__ == "__main__":
    asyncio.run(main())
