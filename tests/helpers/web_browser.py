"""The web app in a real Chromium: a site's owner on a running `overt up`, and a page signed
in as them (fixtures registered for tests/web by its conftest.py)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from shared.db import create_engine
from shared.sites import Site, create_site
from tests.helpers.browser import Server
from tests.helpers.web import PASSWORD, member


@dataclass(frozen=True)
class Owner:
    email: str
    password: str
    site: Site
    user_id: int


@pytest.fixture
async def owner(server: Server) -> Owner:
    engine = create_engine(server.settings)
    try:
        site = await create_site(engine=engine, domain="example.com")
        user_id = await member(engine, "owner@example.com", site.id, role="owner")
    finally:
        await engine.dispose()
    return Owner(email="owner@example.com", password=PASSWORD, site=site, user_id=user_id)


async def sign_in_page(page: Page, server: Server, email: str, password: str) -> None:
    """Fill the sign-in form as a person would, and wait for the page it leads to."""
    await page.goto(f"{server.base_url}/app/login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Sign in").click()


@pytest.fixture
async def signed_in(browser: Browser, server: Server, owner: Owner) -> AsyncIterator[Page]:
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await sign_in_page(page, server, owner.email, owner.password)
        yield page
    finally:
        await context.close()


def screenshot_dir(tmp_path: Path) -> Path:
    """Where page screenshots go: OVERT_TEST_SCREENSHOTS when set (to look at them), else
    the test's own temporary folder."""
    chosen = os.environ.get("OVERT_TEST_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def screenshots(page: Page, folder: Path, name: str) -> list[Path]:
    """The page as it is, in light and in dark (prefers-color-scheme), full length."""
    taken = []
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        path = folder / f"{name}-{scheme}.png"
        await page.screenshot(path=str(path), full_page=True)
        taken.append(path)
    await page.emulate_media(color_scheme=None)
    return taken
