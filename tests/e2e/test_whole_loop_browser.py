"""The whole loop in Debian's headless Chromium against `overt up`, on both backends: a page
with both tags counts anonymous pageviews; the visitor accepts in the widget and the site's
backend names them; after a second visit with intent signals a Slack alert (Block Kit) that
names them reaches a loopback receiver; the visitor withdraws on the preference page (opened
through the widget's hand-over link); the contact is no longer named, Slack is told, and
the next pageview is not linked."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from services.consent.verification.service import sign_assertion
from shared.keys import KeyScope
from shared.settings import Settings
from tests.helpers.browser import DESKTOP_CHROME, Server, overt_up
from tests.helpers.pages import wait_events, wait_stored, watch
from tests.helpers.people import Receiver, receiver

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

INTENT = "contact.intent_threshold_crossed"
SCOPES = [scope.value for scope in KeyScope]


def write_pages(server: Server, root: Path, site_id: str) -> None:
    tags = (
        f'<script src="{server.base_url}/consent/widget.js" data-site="{site_id}"></script>'
        f'<script defer src="{server.base_url}/overt.js" data-site="{site_id}"></script>'
    )
    for name in ("index", "pricing"):
        (root / f"{name}.html").write_text(
            "<!doctype html><html lang='en'><head><link rel='icon' href='data:,'>"
            f"{tags}<title>{name}</title></head>"
            f"<body><h1>{name}</h1><button data-overt-preferences>Privacy</button></body></html>"
        )


def texts(message: dict[str, Any]) -> str:
    parts = [message.get("text", "")]
    for block in message.get("blocks", []):
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            parts.append(element.get("text", "") if isinstance(element.get("text"), str) else "")
    return "\n".join(parts)


async def wait_for_message(slack: Receiver, count: int) -> dict[str, Any]:
    await slack.wait_for(count, timeout=30)
    message: dict[str, Any] = slack.requests[count - 1].json()
    return message


async def contacts(client: httpx.AsyncClient, site_id: str, key: str) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/sites/{site_id}/contacts", headers={"authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["contacts"]
    return found


@pytest.mark.timeout(300)  # a minute quiet; several browsers and servers on a busy machine
async def test_consent_to_a_named_slack_alert_and_back(
    settings: Settings, browser: Browser, page_origin: tuple[str, Path], tmp_path: Path
) -> None:
    origin, root = page_origin
    async with (
        # Loopback receivers allowed; the outbox passed twice a second.
        overt_up(
            settings,
            tmp_path,
            webhook_allow_private="true",
            webhook_poll_s="0.5",
            webhook_intent_scan_s="1",
        ) as server,
        receiver() as slack,
        httpx.AsyncClient(base_url=server.base_url) as api,
    ):
        site_id = server.cli("site", "add", "127.0.0.1")["id"]
        key = server.cli("key", "create", "--site", site_id, "--scope", *SCOPES)["key"]
        write_pages(server, root, site_id)
        auth = {"authorization": f"Bearer {key}"}
        definition = {
            "high_intent_pages": ["/pricing.html"],
            "intent_rules": [
                {"kind": "page_repeat", "name": "pricing_twice", "pattern": "/pricing.html"}
            ],
            "intent_threshold": 5.0,
        }
        defined = await api.put(f"/v1/sites/{site_id}/definitions", json=definition, headers=auth)
        assert defined.status_code in (200, 201), defined.text
        hook = await api.post(
            f"/v1/sites/{site_id}/webhooks",
            json={"kind": "slack", "url": slack.url, "events": [INTENT]},
            headers=auth,
        )
        assert hook.status_code == 201, hook.text

        context = await browser.new_context(user_agent=DESKTOP_CHROME)
        page = await context.new_page()
        errors = watch(page)
        # Anonymous: a pageview counted before any choice, linked to no one.
        await page.goto(f"{origin}/index.html")
        [anonymous] = await wait_events(server, site_id, "pageview")
        assert (anonymous.analytics_id, anonymous.subject_id) == (None, None)
        await page.get_by_role("button", name="Accept all").click()
        stored = await wait_stored(page, site_id)
        assert stored["token"].startswith("oct1.")
        subject_id = stored["subject"]
        # The site's backend says who this is (the visitor agreed to identification).
        secret = await server.assertion_secret(site_id)
        issued_at = int(time.time())
        named = {
            "subject_id": subject_id,
            "kind": "email",
            "value": "ada@example.org",
            "issued_at": issued_at,
            "display_name": "Ada Lovelace",
        }
        named["signature"] = sign_assertion(
            assertion_secret=secret,
            site_id=site_id,
            subject_id=subject_id,
            kind="email",
            value="ada@example.org",
            issued_at=issued_at,
            display_name="Ada Lovelace",
        )
        asserted = await api.post(f"/consent/sites/{site_id}/identity/assert", json=named)
        assert asserted.status_code == 200, asserted.text
        # An earlier visit (three hours ago by client time: another session) to the pricing
        # page, then this visit's: two visits, the intent rule's two pricing views.
        earlier = {
            "s": site_id,
            "n": "pageview",
            "u": f"{origin}/pricing.html",
            "r": None,
            "i": uuid.uuid4().hex,
            "k": stored["token"],
            "t": int((time.time() - 3 * 3600) * 1000),
        }
        sent = await api.post(
            "/e",
            content=json.dumps(earlier),
            headers={"user-agent": DESKTOP_CHROME, "content-type": "text/plain"},
        )
        assert sent.status_code == 202, sent.text
        await page.goto(f"{origin}/pricing.html")
        linked = await wait_events(server, site_id, "pageview", 3)
        assert linked[-1].subject_id == subject_id
        # The contact, named, in /v1; then the Slack alert naming them.
        [contact] = await contacts(api, site_id, key)
        assert contact["identity"]["value"] == "ada@example.org"
        alert = await wait_for_message(slack, 1)
        shown = texts(alert)
        assert "Ada Lovelace" in shown
        assert "ada@example.org" in shown
        assert "blocks" in alert

        # Withdrawal on the preference page, opened through the widget's hand-over link.
        await page.click("[data-overt-preferences]")
        await page.wait_for_function("document.querySelector('.ovc-more').href.includes('/open?')")
        await page.get_by_role("link", name="See your history, export or erase").click()
        await page.wait_for_url("**/preferences?done=session&lang=en")
        section = page.locator("#purpose-identification")
        await section.get_by_role("button", name="Don't allow").click()
        await page.wait_for_url("**/preferences?done=saved&lang=en")
        assert await section.locator(".status").text_content() == "Withdrawn"
        assert await contacts(api, site_id, key) == []
        withdrawn = texts(await wait_for_message(slack, 2))
        assert "withdr" in withdrawn.lower()
        assert "ada@example.org" not in withdrawn
        # Back on the site: the next pageview is counted but linked to no one.
        await page.goto(f"{origin}/pricing.html")
        after = await wait_events(server, site_id, "pageview", 4)
        assert after[-1].subject_id is None
        assert len(slack.requests) == 2  # no alert about someone who withdrew
        assert errors == []
        await context.close()
