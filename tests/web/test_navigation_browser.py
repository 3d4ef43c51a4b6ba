"""The site's one navigation and the dashboard's filters in Debian's Chromium (SQLite in
`make test`): every page of a site carries the same nav with the page shown marked, on a
phone's width and a desk's, reachable by keyboard and working without JavaScript; filters
are built in the top bar's form, shown as chips, removed, saved as a segment and applied
again; axe-core finds no serious or critical violation, light or dark."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page

from tests.helpers.browser import Server
from tests.helpers.dashboard import axe_violations
from tests.helpers.pages import watch
from tests.helpers.web_browser import Owner, sign_in_page

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.timeout(420)]

# (address under the site, the nav link marked current there)
PAGES = (
    ("", "Dashboard"),
    ("/realtime", "Realtime"),
    ("/views/after-click", "After the click"),
    ("/views/engagement", "Engagement"),
    ("/views/contacts", "Contacts"),
    ("/reports", "Reports"),
    ("/settings", "Settings"),
    ("/settings/keys", "API keys"),
    ("/settings/team", "Team"),
)
CHECKED = ("", "/views/engagement", "/settings")  # axe-core's pages (each takes a while)


async def assert_accessible(page: Page) -> None:
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        assert await axe_violations(page) == [], (scheme, page.url)
    await page.emulate_media(color_scheme=None)


async def chip_words(page: Page) -> list[str]:
    """The filter chips' words (each chip's remove link names its chip)."""
    chips = page.get_by_role("list", name="Filters").get_by_role("link")
    names = [await link.get_attribute("aria-label") or "" for link in await chips.all()]
    return [name.removeprefix("Remove filter: ") for name in names]


async def current_links(page: Page, domain: str) -> list[str]:
    nav = page.get_by_role("navigation", name=f"Pages of {domain}")
    return [
        (await link.inner_text()).strip()
        for link in await nav.locator('a[aria-current="page"]').all()
    ]


async def test_one_nav_marks_the_page_on_a_phone_and_a_desk(
    browser: Browser, server: Server, owner: Owner
) -> None:
    site = f"{server.base_url}/app/sites/{owner.site.id}"
    for width, height in ((375, 740), (1280, 900)):
        context = await browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        errors = watch(page)
        try:
            await sign_in_page(page, server, owner.email, owner.password)
            for path, label in PAGES:
                await page.goto(site + path)
                assert await current_links(page, owner.site.domain) == [label], path
                overflow = await page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, (width, path)  # the nav scrolls, the page does not
                if width == 375 and path in CHECKED:
                    await assert_accessible(page)
            # The keyboard: from the skip link, Tab reaches the nav's links in order, and
            # Enter follows one.
            await page.goto(site)
            for _ in range(12):
                await page.keyboard.press("Tab")
                if await page.evaluate("document.activeElement.textContent.trim()") == "Funnels":
                    break
            else:
                raise AssertionError("Tab never reached the nav's Funnels link")
            async with page.expect_navigation():
                await page.keyboard.press("Enter")
            assert page.url == f"{site}/views/funnels"
            assert await current_links(page, owner.site.domain) == ["Funnels"]
            assert errors == []
        finally:
            await context.close()


@pytest.mark.nightly  # test_dashboard_filters builds the same filters over HTTP in make test
async def test_filters_are_built_removed_and_saved_without_javascript(
    browser: Browser, server: Server, owner: Owner
) -> None:
    site = f"{server.base_url}/app/sites/{owner.site.id}"
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    try:
        await sign_in_page(page, server, owner.email, owner.password)
        await page.goto(site)
        # The nav is plain links: it works with no script at all.
        nav = page.get_by_role("navigation", name=f"Pages of {owner.site.domain}")
        async with page.expect_navigation():
            await nav.get_by_role("link", name="Settings").click()
        assert await current_links(page, owner.site.domain) == ["Settings"]
        await page.goto(site)

        async def add(dimension: str, op: str, values: str) -> None:
            await page.get_by_text("Add filter", exact=True).first.click()  # a <details>
            await page.get_by_label("Dimension").select_option(dimension)
            await page.get_by_label("Condition").select_option(op)
            await page.get_by_label("Values").fill(values)
            async with page.expect_navigation():
                await page.get_by_role("button", name="Add filter").click()

        await add("country", "is_not", "DE\nFR")
        await add("page", "contains", "/pricing")
        assert "f=is_not%2Ccountry%2CDE&f=is_not%2Ccountry%2CFR" in page.url
        chips = page.get_by_role("list", name="Filters").get_by_role("listitem")
        assert await chip_words(page) == [
            "country is not DE nor FR",
            "page contains /pricing",
        ]
        async with page.expect_navigation():
            await page.get_by_role("link", name="Remove filter: page contains /pricing").click()
        assert await chips.count() == 1

        await page.get_by_text("Save as segment", exact=True).click()
        await page.get_by_label("Segment name").fill("Outside DE and FR")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Save segment").click()
        assert await chip_words(page) == ["segment is Outside DE and FR"]
        # From the top bar: read without it, then through it again.
        async with page.expect_navigation():
            await page.get_by_role(
                "link", name="Remove filter: segment is Outside DE and FR"
            ).click()
        assert await chips.count() == 0
        await page.locator("summary", has_text="All visitors").click()
        async with page.expect_navigation():
            await page.get_by_role("link", name="Outside DE and FR").click()
        assert await chip_words(page) == ["segment is Outside DE and FR"]
        summaries = [" ".join(t.split()) for t in await page.locator("summary").all_inner_texts()]
        assert "Segment: Outside DE and FR" in summaries
    finally:
        await context.close()
