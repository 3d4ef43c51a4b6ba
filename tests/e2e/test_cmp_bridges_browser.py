"""Each CMP bridge in Debian's headless Chromium, against `overt up` on both backends, on a
stub page that plays that consent manager: its dialog, its documented events or callbacks,
its state objects. A decision made in the stub reaches the ledger with the manager's name
and the SHA-256 of the text its dialog showed; the same choice told again on the next page
is not recorded twice; a later refusal is; the snippet on the page follows at once.

The stubs implement only what each bridge reads, as each vendor documents it:
Cookiebot (window.Cookiebot.consent, CookiebotOnAccept / CookiebotOnDecline), OneTrust
(OneTrustGroupsUpdated with the active groups, OneTrust.IsAlertBoxClosed()), Klaro
(klaro.getManager().watch(), "saveConsents"), cookieconsent v3 (cc:onConsent / cc:onChange
with detail.cookie.categories).
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from tests.helpers.browser import DESKTOP_CHROME, Server
from tests.helpers.pages import stored, wait_events, wait_stored, watch

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

# window.cmpDecide(true | false) plays the visitor's click in the stub's dialog; each stub
# keeps its choice in localStorage and tells it again on the next page, as the real ones do.
STUBS = {
    "cookiebot": """
var dialog = show("CybotCookiebotDialog");
var saved = localStorage.getItem("stub");
function tell(yes) {
  window.Cookiebot = {
    consent: {necessary: true, preferences: false, statistics: yes, marketing: false}
  };
  window.dispatchEvent(new Event(yes ? "CookiebotOnAccept" : "CookiebotOnDecline"));
}
window.cmpDecide = function (yes) { localStorage.setItem("stub", yes); tell(yes); };
if (saved) setTimeout(function () { tell(saved === "true"); }, 300);
""",
    "onetrust": """
var dialog = show("onetrust-consent-sdk");
var saved = localStorage.getItem("stub");
window.OneTrust = {IsAlertBoxClosed: function () { return !!localStorage.getItem("stub"); }};
function tell(groups) {
  window.dispatchEvent(new CustomEvent("OneTrustGroupsUpdated", {detail: groups}));
}
window.cmpDecide = function (yes) {
  localStorage.setItem("stub", yes);
  tell(yes ? ["C0001", "C0002", "C0004"] : ["C0001"]);
};
// On load it fires with the defaults even before any decision (the bridge must ignore it).
setTimeout(function () {
  tell(saved === "false" ? ["C0001"] : ["C0001", "C0002", "C0004"]);
}, 300);
""",
    "klaro": """
var dialog = show("klaro");
var watchers = [];
window.klaro = {getManager: function () {
  return {watch: function (watcher) { watchers.push(watcher); }};
}};
window.cmpDecide = function (yes) {
  // Klaro takes its notice off the page when the visitor decides.
  dialog.remove();
  var consents = {analytics: yes, "google-ads": false};
  watchers.forEach(function (w) {
    w.update(null, "saveConsents", {changes: consents, consents: consents, type: "save"});
  });
};
""",
    "cookieconsent": """
var dialog = show("cc-main");
var saved = localStorage.getItem("stub");
function tell(name, yes) {
  var categories = yes ? ["necessary", "analytics", "marketing"] : ["necessary"];
  window.dispatchEvent(new CustomEvent(name, {detail: {cookie: {categories: categories}}}));
}
window.cmpDecide = function (yes) {
  var first = !localStorage.getItem("stub");
  localStorage.setItem("stub", yes);
  tell(first ? "cc:onConsent" : "cc:onChange", yes);
};
if (saved) setTimeout(function () { tell("cc:onConsent", saved === "true"); }, 300);
""",
}
SHOW = """
function show(id) {
  var node = document.createElement("div");
  node.id = id;
  node.textContent = "  " + document.title + " uses cookies\\n  for statistics.  ";
  document.body.appendChild(node);
  return node;
}
"""
# cookieconsent: also map the visitor's "marketing" category to identification, as a site
# can (data-purposes), so the bridge hands the snippet a token too.
PURPOSES = {"cookieconsent": "analytics=analytics identification=marketing"}


def write_site(server: Server, root: Path, site_id: str, cmp: str) -> None:
    (root / f"{cmp}-stub.js").write_text(SHOW + STUBS[cmp])
    mapping = f' data-purposes="{PURPOSES[cmp]}"' if cmp in PURPOSES else ""
    (root / f"{cmp}.html").write_text(
        f"<!doctype html><html><head><title>{cmp} shop</title>"
        f'<script defer src="/{cmp}-stub.js"></script>'
        f'<script defer src="{server.base_url}/consent/cmp/{cmp}.js" data-site="{site_id}"'
        f' data-jurisdiction="EU"{mapping}></script>'
        f'<script defer src="{server.base_url}/overt.js" data-site="{site_id}"></script>'
        "</head><body><h1>Shop</h1></body></html>"
    )


async def history(server: Server, site_id: str, credential: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.get(
            f"/consent/sites/{site_id}/history", headers={"authorization": f"Bearer {credential}"}
        )
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


async def decide(page: Page, site_id: str, yes: bool) -> dict[str, Any]:
    before = await stored(page, site_id)
    await page.evaluate(f"window.cmpDecide({'true' if yes else 'false'})")
    async with asyncio.timeout(10):
        while (after := await wait_stored(page, site_id)) == before:
            await asyncio.sleep(0.05)
    return after


@pytest.mark.nightly  # tests/consent's bridge tests run in make test
async def test_each_bridge_records_its_cmp_and_the_text_it_showed(
    server: Server, browser: Browser, page_origin: tuple[str, Path]
) -> None:
    origin, root = page_origin
    origin = origin.replace("127.0.0.1", "localhost")
    site_id = server.cli("site", "add", "localhost")["id"]
    (root / "favicon.ico").write_bytes(b"")
    for cmp in STUBS:
        write_site(server, root, site_id, cmp)
        # Its own browser profile: its own subject.
        context = await browser.new_context(user_agent=DESKTOP_CHROME)
        page = await context.new_page()
        errors = watch(page)
        await page.goto(f"{origin}/{cmp}.html")
        await page.wait_for_function("window.cmpDecide !== undefined && window.overt.ready")
        shown = f"{cmp} shop uses cookies for statistics."
        text_hash = hashlib.sha256(shown.encode()).hexdigest()

        accepted = await decide(page, site_id, True)
        rows = await history(server, site_id, accepted["credential"])
        expected = [("analytics", "given")]
        if cmp == "cookieconsent":
            expected.append(("identification", "given"))
        assert [(r["purpose"], r["event"]) for r in rows] == expected, cmp
        for row in rows:
            assert (row["method"], row["source"], row["notice_sha256"]) == (
                "cmp",
                cmp,
                text_hash,
            ), cmp
            assert row["jurisdiction"] == "EU"
        # The snippet follows at once: tier 1 (and linked where identification was given).
        await page.evaluate(f"overt('{cmp}-accepted')")
        [event] = await wait_events(server, site_id, f"{cmp}-accepted")
        assert event.analytics_id == await page.evaluate("localStorage.getItem('overt_id')")
        assert event.analytics_id is not None
        linked = accepted["subject"] if cmp == "cookieconsent" else None
        assert event.subject_id == linked, cmp

        # The next page: the manager tells its stored choice again; nothing new is recorded.
        await page.reload()
        await page.wait_for_function("window.cmpDecide !== undefined && window.overt.ready")
        await page.wait_for_timeout(800)  # the stubs tell their stored choice after 300 ms
        assert len(await history(server, site_id, accepted["credential"])) == len(expected)

        refused = await decide(page, site_id, False)
        rows = await history(server, site_id, refused["credential"])
        assert [r["event"] for r in rows[len(expected) :]] == ["withdrawn"] * len(expected), cmp
        assert {r["source"] for r in rows} == {cmp}
        await page.evaluate(f"overt('{cmp}-refused')")
        [event] = await wait_events(server, site_id, f"{cmp}-refused")
        assert (event.analytics_id, event.subject_id) == (None, None), cmp
        assert errors == [], cmp
        await context.close()
