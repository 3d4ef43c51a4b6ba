"""A password-protected shared link embedded as an iframe on another site, in a real
Chromium: the visitor types the link's password inside the frame and sees the dashboard's
numbers. The embedding page is served from http://localhost, the link from
http://127.0.0.1 (another site: the port does not make one), so every cookie of the link
is a third-party one there; Overt runs with an https public URL, as behind a TLS proxy,
which makes those cookies SameSite=None; Secure; Partitioned (Chromium keeps Secure
cookies from a loopback address: it is a secure context)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from services.api.web.dashboard.shares import create_share
from shared.db import create_engine
from shared.settings import Settings
from shared.sites import create_site
from tests.helpers.browser import overt_up
from tests.helpers.dashboard import VISITS, send_visit, visitors_stored

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.timeout(300)]
SECRET = "the agency's passphrase"


async def test_a_locked_shared_link_opens_in_another_site_s_iframe(
    settings: Settings,
    tmp_path: Path,
    browser: Browser,
    page_origin: tuple[str, Path],
) -> None:
    async with overt_up(settings, tmp_path, public_url="https://overt.example") as server:
        engine = create_engine(settings)
        try:
            site = await create_site(engine=engine, domain="embed.example")
            _, token = await create_share(
                engine=engine, site_id=site.id, label="agency", password=SECRET
            )
        finally:
            await engine.dispose()
        visits = VISITS[:4]
        for visit in visits:
            await send_visit(server.base_url, site.id, site.domain, visit)
        await visitors_stored(settings, site.id, len(visits))

        origin, root = page_origin
        embedder = origin.replace("127.0.0.1", "localhost")
        link = f"{server.base_url}/share/{token}?period=day"
        (root / "index.html").write_text(
            "<!doctype html><title>A partner's page</title>"
            f'<iframe src="{link}" title="Shared dashboard" width="1000" height="800"></iframe>'
        )
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"{embedder}/index.html")
        frame = page.frame_locator("iframe")
        await frame.get_by_label("Password", exact=True).fill(SECRET)
        await frame.get_by_role("button", name="Open").click()
        visitors = frame.locator('[data-metric="visitors"]')
        await expect(visitors).to_have_text(str(len(visits)))
        stored = {cookie["name"]: cookie for cookie in await context.cookies()}
        unlocked = [name for name in stored if name.startswith("overt_share_")]
        assert len(unlocked) == 2, stored  # the frame's CSRF cookie and the password's
        for name in unlocked:
            assert stored[name]["sameSite"] == "None"
            assert stored[name]["secure"] is True
        await context.close()
