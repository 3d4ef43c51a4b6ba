"""One paste: the consent widget and the snippet on one page work together with no site code,
in Debian's headless Chromium against `overt up` on both backends.

"Accept all" switches the snippet to tier 1 at once and hands it the identification token
(events are linked to the subject); the next page carries both from the first pageview;
"Reject all" stops both within the same page view. Consent Mode: a page with a dataLayer
gets `default` denied before any other tag runs and an `update` after each decision, with
the values the server answered.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from shared.consent_tokens import issue_token
from shared.settings import Settings
from tests.helpers.browser import DESKTOP_CHROME, Server
from tests.helpers.pages import stored, wait_events, wait_stored, watch

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

DIALOG = "[role=dialog]"
GRANTED_ALL = {
    "analytics_storage": "granted",
    "ad_user_data": "granted",
    "ad_storage": "granted",
    "ad_personalization": "granted",
}
DENIED_ALL = {name: "denied" for name in GRANTED_ALL}


def two_tags(server: Server, site_id: str) -> str:
    """The tags a site pastes: the widget first (no defer: Consent Mode defaults come
    before any other tag), then the snippet."""
    base = server.base_url
    return (
        f'<script src="{base}/consent/widget.js" data-site="{site_id}"></script>'
        f'<script defer src="{base}/overt.js" data-site="{site_id}"></script>'
    )


async def choose(page: Page, button: str) -> None:
    if not await page.locator(DIALOG).count():
        await page.evaluate("window.overtConsent.open()")
    await page.get_by_role("button", name=button).click()
    await page.locator(DIALOG).wait_for(state="detached")


async def test_accept_links_the_snippet_and_withdrawal_stops_it_in_the_same_view(
    server: Server, browser: Browser, page_origin: tuple[str, Path]
) -> None:
    origin, root = page_origin
    origin = origin.replace("127.0.0.1", "localhost")
    site = server.cli("site", "add", "localhost")
    site_id = site["id"]
    contacts_key = server.cli("key", "create", "--site", site_id, "--scope", "contacts:read")
    (root / "favicon.ico").write_bytes(b"")
    for name in ("index", "next"):
        (root / f"{name}.html").write_text(
            f"<!doctype html><html><head>{two_tags(server, site_id)}<title>{name}</title>"
            f"</head><body><h1>{name}</h1></body></html>"
        )
    context = await browser.new_context(user_agent=DESKTOP_CHROME)
    page = await context.new_page()
    errors = watch(page)
    await page.goto(f"{origin}/index.html")
    await page.locator(DIALOG).wait_for()
    [first] = await wait_events(server, site_id, "pageview")
    assert (first.analytics_id, first.subject_id) == (None, None)  # tier 0 before a choice

    await choose(page, "Accept all")
    value = await wait_stored(page, site_id)
    # In the same page view: the next event is tier 1 and linked, with no site code.
    await page.evaluate("overt('Accepted')")
    [accepted] = await wait_events(server, site_id, "Accepted")
    analytics_id = await page.evaluate("localStorage.getItem('overt_id')")
    assert analytics_id
    assert len(analytics_id) == 32
    assert accepted.analytics_id == analytics_id
    assert accepted.subject_id == value["subject"]

    # The next page: its very first pageview carries both (the widget's call is queued
    # before the snippet starts, whichever loads first).
    await page.goto(f"{origin}/next.html")
    rows = await wait_events(server, site_id, "pageview", 2)
    assert (rows[-1].path, rows[-1].analytics_id, rows[-1].subject_id) == (
        "/next.html",
        analytics_id,
        value["subject"],
    )
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        contacts = await client.get(
            f"/v1/sites/{site_id}/contacts",
            headers={"authorization": f"Bearer {contacts_key['key']}"},
        )
    assert contacts.status_code == 200, contacts.text
    assert value["subject"] in contacts.text

    # Withdrawal in the same page view: the next event is neither tier 1 nor linked.
    await choose(page, "Reject all")
    await page.wait_for_function(
        f"!JSON.parse(localStorage.getItem('overt_consent_{site_id}')).token"
    )
    await page.evaluate("overt('Withdrawn')")
    [withdrawn] = await wait_events(server, site_id, "Withdrawn")
    assert (withdrawn.analytics_id, withdrawn.subject_id) == (None, None)
    assert await page.evaluate("localStorage.getItem('overt_id')") is None
    assert errors == []
    await context.close()


async def layer(page: Page) -> list[list[Any]]:
    """The page's dataLayer, each gtag command (an Arguments object) as a list."""
    entries: list[list[Any]] = await page.evaluate(
        "window.dataLayer.map(entry => Array.from(entry))"
    )
    return entries


@pytest.mark.nightly  # make test keeps accept-then-withdraw
async def test_consent_mode_defaults_before_any_tag_and_updates_after_each_decision(
    server: Server, browser: Browser, page_origin: tuple[str, Path]
) -> None:
    origin, root = page_origin
    site_id = server.cli("site", "add", "127.0.0.1")["id"]
    # A site with Google's tag: the page starts a dataLayer, then the widget, then the tag.
    (root / "favicon.ico").write_bytes(b"")
    (root / "layer.js").write_text("window.dataLayer = window.dataLayer || [];\n")
    (root / "tag.js").write_text(
        "window.seenByTag = window.dataLayer.map(function (e) { return Array.from(e); });\n"
    )
    (root / "index.html").write_text(
        "<!doctype html><html><head>"
        '<script src="/layer.js"></script>'
        f'<script src="{server.base_url}/consent/widget.js" data-site="{site_id}"></script>'
        '<script src="/tag.js"></script>'
        "<title>Tags</title></head><body><h1>Tags</h1></body></html>"
    )
    context = await browser.new_context()
    page = await context.new_page()
    errors = watch(page)
    await page.goto(f"{origin}/index.html")
    await page.locator(DIALOG).wait_for()
    seen_by_tag = await page.evaluate("window.seenByTag")
    assert seen_by_tag == [["consent", "default", DENIED_ALL]]

    await choose(page, "Accept all")
    await page.wait_for_function("window.dataLayer.length === 2")
    assert (await layer(page))[1] == ["consent", "update", GRANTED_ALL]

    await choose(page, "Reject all")
    await page.wait_for_function("window.dataLayer.length === 3")
    assert (await layer(page))[2] == ["consent", "update", DENIED_ALL]

    # The next page: defaults, then at once the stored answer, before the tag runs.
    await page.reload()
    assert await page.evaluate("window.seenByTag") == [
        ["consent", "default", DENIED_ALL],
        ["consent", "update", DENIED_ALL],
    ]
    assert errors == []
    await context.close()


@pytest.mark.nightly  # make test keeps accept-then-withdraw
async def test_a_renewed_token_reaches_the_snippet(
    server: Server, browser: Browser, page_origin: tuple[str, Path], settings: Settings
) -> None:
    origin, root = page_origin
    origin = origin.replace("127.0.0.1", "localhost")
    site_id = server.cli("site", "add", "localhost")["id"]
    (root / "favicon.ico").write_bytes(b"")
    (root / "index.html").write_text(
        f"<!doctype html><html><head>{two_tags(server, site_id)}<title>Shop</title>"
        "</head><body><h1>Shop</h1></body></html>"
    )
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        decided = (
            await client.post(
                f"/consent/sites/{site_id}/decisions",
                json={"choices": {"analytics": True, "identification": True}},
            )
        ).json()
    # A token that ends within the hour: the widget renews it when the page loads.
    ending, _ = issue_token(
        secret=settings.secret(),
        site_id=site_id,
        subject_id=decided["subject_id"],
        lifetime_ms=600_000,
    )
    remembered = {
        "credential": decided["credential"],
        "subject": decided["subject_id"],
        "hashes": {p["purpose"]: p["notice_sha256"] for p in decided["purposes"]},
        "granted": {"analytics": True, "identification": True},
        "token": ending,
    }
    context = await browser.new_context(user_agent=DESKTOP_CHROME)
    await context.add_init_script(
        f"localStorage.setItem('overt_consent_{site_id}', {json.dumps(json.dumps(remembered))})"
    )
    page = await context.new_page()
    sent: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda request: (
            sent.extend(json.loads(request.post_data or "[]"))
            if request.url.endswith("/e")
            else None
        ),
    )
    errors = watch(page)
    await page.goto(f"{origin}/index.html")
    async with asyncio.timeout(10):
        while (value := await stored(page, site_id)) is None or value["token"] == ending:
            await asyncio.sleep(0.05)
    await page.evaluate("overt('Later')")
    [later] = await wait_events(server, site_id, "Later")
    assert later.subject_id == decided["subject_id"]
    [event] = [event for event in sent if event["n"] == "Later"]
    assert event["k"] == value["token"] != ending  # the renewed one, handed over at once
    assert errors == []
    await context.close()
