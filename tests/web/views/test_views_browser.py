"""The own views and the settings in a real Chromium, on both backends: the owner moves
through the tabs, changes the period with the form (no script needed), stores a new
engagement definition; a viewer signed in another browser gets 403 for the settings. No
page runs anything the CSP refuses."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page

from shared.db import create_engine
from tests.helpers.browser import Server
from tests.helpers.pages import watch
from tests.helpers.web import PASSWORD, member
from tests.helpers.web_browser import Owner, sign_in_page

pytestmark = [pytest.mark.anyio, pytest.mark.browser]


async def test_the_owner_moves_through_the_views_and_stores_a_definition(
    signed_in: Page, server: Server, owner: Owner
) -> None:
    errors = watch(signed_in)
    views = f"{server.base_url}/app/sites/{owner.site.id}/views"
    await signed_in.goto(f"{views}/after-click")
    assert await signed_in.get_by_role("heading", level=1).inner_text() == "After the click"
    await signed_in.get_by_label("Period").select_option("28d")
    async with signed_in.expect_navigation():
        await signed_in.get_by_role("button", name="Show").click()
    assert "period=28d" in signed_in.url
    assert await signed_in.get_by_label("Period").input_value() == "28d"
    for tab, heading in (
        ("Funnels", "Funnels"),
        ("Retention", "Retention"),
        ("Consent", "Consent"),
        ("Contacts", "Contacts"),
        ("Engagement", "Engagement definition"),
    ):
        async with signed_in.expect_navigation():
            await (
                signed_in.get_by_role("navigation", name=f"Pages of {owner.site.domain}")
                .get_by_role("link", name=tab)
                .click()
            )
        assert await signed_in.get_by_role("heading", level=1).inner_text() == heading
        current = signed_in.get_by_role("link", name=tab)
        assert await current.get_attribute("aria-current") == "page"
        if tab == "Consent":  # htmx fetches the verified card in place of the link
            at = signed_in.url
            await signed_in.get_by_role("link", name="Verify the ledger now").click()
            await signed_in.get_by_text("signed checkpoints recomputed just now").wait_for()
            assert signed_in.url == at
    await signed_in.get_by_label("k (k-anonymity)").fill("9")
    async with signed_in.expect_navigation():
        await signed_in.get_by_role("button", name="Save as version 1").click()
    assert await signed_in.get_by_role("status").inner_text() == (
        "Saved as version 1. Views answer with it from now on, over past days too."
    )
    assert await signed_in.get_by_label("k (k-anonymity)").input_value() == "9"
    await signed_in.goto(f"{server.base_url}/app/sites/{owner.site.id}/settings")
    assert await signed_in.get_by_label("k, the smallest group shown").input_value() == "9"
    assert errors == []


@pytest.mark.nightly  # test_access_browser's viewer test runs in make test
async def test_a_viewer_gets_no_settings_page(
    browser: Browser, server: Server, owner: Owner
) -> None:
    engine = create_engine(server.settings)
    try:
        await member(engine, "viewer@example.com", owner.site.id, role="viewer")
    finally:
        await engine.dispose()
    context = await browser.new_context()
    page = await context.new_page()
    await sign_in_page(page, server, "viewer@example.com", PASSWORD)
    settings = await page.goto(f"{server.base_url}/app/sites/{owner.site.id}/settings")
    assert settings is not None
    assert settings.status == 403
    views = await page.goto(f"{server.base_url}/app/sites/{owner.site.id}/views/engagement")
    assert views is not None
    assert views.status == 200
    assert await page.get_by_role("button", name="Save as version 1").count() == 0
    await context.close()
