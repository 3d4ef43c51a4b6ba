"""The hosted preference page over HTTP, on both backends: forms, CSRF, export, erasure."""

from __future__ import annotations

import asyncio
import re
from contextlib import AsyncExitStack

import httpx
import pytest

from shared.consent_tokens import is_linkable
from shared.runtime import open_resources
from shared.sites import Site
from tests.helpers.consent import FORM, open_page, page_url, post
from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio


async def test_page_renders_without_a_subject(overt: Overt, site: Site) -> None:
    response, _ = await open_page(overt, site)
    assert "text/html" in response.headers["content-type"]
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "<script" not in response.text
    assert "you have made no choice" in response.text
    assert response.text.count(">Allow</button>") == 3
    assert response.text.count(">Don't allow</button>") == 3
    assert "overt_csrf" in response.headers["set-cookie"]


async def test_posts_without_a_valid_form_token_are_refused(overt: Overt, site: Site) -> None:
    _, csrf = await open_page(overt, site)
    url = f"{page_url(site)}/choices"
    cases = [
        ({"grant": "analytics"}, {}),  # no token
        ({"grant": "analytics", "csrf": "0" * 64}, {}),  # wrong token
        ({"grant": "analytics", "csrf": csrf}, {"origin": "https://evil.example"}),
    ]
    for fields, headers in cases:
        response = await overt.client.post(url, data=fields, headers={**FORM, **headers})
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/csrf")
    # Without the browser's cookie, a token copied from the page is worthless too.
    bare = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=overt.app), base_url="http://overt.test"
    )
    async with bare:
        response = await bare.post(url, data={"grant": "analytics", "csrf": csrf}, headers=FORM)
    assert response.status_code == 403
    for action in ("export", "erase", "email"):
        response = await overt.client.post(f"{page_url(site)}/{action}", data={}, headers=FORM)
        assert response.status_code == 403
    after, csrf = await open_page(overt, site)
    assert "you have made no choice" in after.text
    # Same host behind a TLS-terminating proxy: the browser says https, the app sees http.
    proxied = await overt.client.post(
        url,
        data={"grant": "analytics", "csrf": csrf},
        headers={**FORM, "origin": "https://overt.test"},
    )
    assert proxied.status_code == 303


async def test_grant_then_withdraw_with_one_click_each(overt: Overt, site: Site) -> None:
    _, csrf = await open_page(overt, site)
    granted = await post(overt, site, "choices", csrf=csrf, grant="analytics")
    assert granted.status_code == 303
    assert "overt_subject" in granted.headers["set-cookie"]
    assert "HttpOnly" in granted.headers["set-cookie"]
    page, csrf = await open_page(overt, site)
    assert re.search(r'id="purpose-analytics".*?class="status">Allowed<', page.text, re.S)
    assert "Your choices are saved" not in page.text
    withdrawn = await post(overt, site, "choices", csrf=csrf, withdraw="analytics")
    assert withdrawn.status_code == 303
    page = await overt.client.get(withdrawn.headers["location"])
    assert "Your choices are saved" in page.text
    assert re.search(r'id="purpose-analytics".*?class="status">Withdrawn<', page.text, re.S)
    assert page.text.count("<tr><td>") == 2  # history: given, withdrawn
    assert "Receipts (2)" in page.text


async def test_export_download_and_erasure(overt: Overt, site: Site) -> None:
    _, csrf = await open_page(overt, site)
    await post(overt, site, "choices", csrf=csrf, grant="identification")
    exported = await post(overt, site, "export", csrf=csrf)
    assert exported.status_code == 200
    assert exported.headers["content-disposition"].startswith("attachment")
    data = exported.json()
    assert [e["event"] for e in data["ledger"]] == ["given"]
    assert data["ledger"][0]["notice_text"]
    subject_id = data["subject_id"]
    unconfirmed = await post(overt, site, "erase", csrf=csrf)
    assert unconfirmed.status_code == 400
    erased = await post(overt, site, "erase", csrf=csrf, confirm="yes")
    assert erased.status_code == 303
    page = await overt.client.get(erased.headers["location"])
    assert "Everything linked to you was erased" in page.text
    assert subject_id not in page.text
    assert "you have made no choice" in page.text
    again = await post(overt, site, "export", csrf=csrf)
    assert again.status_code == 401


async def test_widget_credential_opens_the_page(overt: Overt, site: Site) -> None:
    decided = await overt.client.post(
        f"/consent/sites/{site.id}/decisions", json={"choices": {"marketing_contact": False}}
    )
    credential = decided.json()["credential"]
    from_site = {**FORM, "origin": "https://www.example.com"}  # the widget on the site's page
    wrong = await overt.client.post(
        f"{page_url(site)}/session", data={"credential": credential + "x"}, headers=from_site
    )
    assert wrong.status_code == 401
    opened = await overt.client.post(
        f"{page_url(site)}/session", data={"credential": credential}, headers=from_site
    )
    assert opened.status_code == 303
    page = await overt.client.get(opened.headers["location"])
    assert decided.json()["subject_id"] in page.text
    assert re.search(
        r'id="purpose-marketing_contact".*?class="status">Not allowed<', page.text, re.S
    )


async def test_gpc_on_the_page_refuses_identification(overt: Overt, site: Site) -> None:
    _, csrf = await open_page(overt, site)
    response = await overt.client.post(
        f"{page_url(site)}/choices",
        data={"csrf": csrf, "grant": "identification"},
        headers={**FORM, "sec-gpc": "1"},
    )
    assert response.status_code == 303
    page = await overt.client.get(page_url(site))
    assert re.search(
        r'id="purpose-identification".*?class="status">Refused by your browser', page.text, re.S
    )


async def test_withdrawal_on_the_page_stops_linking_in_another_process(
    overt: Overt, site: Site
) -> None:
    """The collector's check (is_linkable) in a second process, on Redis; or in-process."""
    _, csrf = await open_page(overt, site)
    await post(overt, site, "choices", csrf=csrf, grant="identification")
    credential = overt.client.cookies.get("overt_subject")
    assert credential is not None
    issued = await overt.client.post(
        f"/consent/sites/{site.id}/tokens", headers={"authorization": f"Bearer {credential}"}
    )
    token = issued.json()["token"]
    settings = overt.resources.settings
    async with AsyncExitStack() as stack:
        collector = (
            await stack.enter_async_context(open_resources(settings))
            if settings.redis_url
            else overt.resources
        )

        async def linkable() -> bool:
            claims = await is_linkable(
                token, site_id=site.id, secret=settings.secret(), revocations=collector.revocations
            )
            return claims is not None

        assert await linkable()
        withdrawn = await post(overt, site, "choices", csrf=csrf, withdraw="identification")
        assert withdrawn.status_code == 303
        async with asyncio.timeout(1.0):
            while await linkable():
                await asyncio.sleep(0.01)


async def test_gpc_on_the_email_form_records_an_opt_out_and_sends_nothing(
    overt: Overt, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    _, csrf = await open_page(overt, site)
    await post(overt, site, "choices", csrf=csrf, grant="identification")
    page, csrf = await open_page(overt, site)
    assert 'name="email"' in page.text  # offered while identification is granted
    response = await overt.client.post(
        f"{page_url(site)}/email",
        data={"csrf": csrf, "email": "someone@example.org"},
        headers={**FORM, "sec-gpc": "1"},
    )
    assert response.status_code == 303
    assert not [r for r in caplog.records if "verification link" in r.getMessage()]
    page, _ = await open_page(overt, site)
    assert re.search(
        r'id="purpose-identification".*?class="status">Refused by your browser', page.text, re.S
    )
    assert 'name="email"' not in page.text


async def test_another_site_cannot_plant_its_subject_in_the_browser(
    overt: Overt, site: Site
) -> None:
    """Login CSRF: an attacker's page posts the attacker's own credential to /session."""
    attacker = await overt.client.post(
        f"/consent/sites/{site.id}/decisions", json={"choices": {"identification": True}}
    )
    credential = attacker.json()["credential"]
    overt.client.cookies.clear()
    url = f"{page_url(site)}/session"
    for origin in ("https://evil.example", "https://example.com.evil.example", "null", None):
        headers = {**FORM, **({"origin": origin} if origin else {})}
        response = await overt.client.post(url, data={"credential": credential}, headers=headers)
        assert response.status_code == 403, (origin, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/cross-site-session")
        assert "overt_subject" not in response.headers.get("set-cookie", "")
    page = await overt.client.get(page_url(site))
    assert attacker.json()["subject_id"] not in page.text
    assert "you have made no choice" in page.text
    # The same post from the site's own pages, or from Overt's, opens the page.
    for origin in ("https://example.com", "http://overt.test"):
        overt.client.cookies.clear()
        opened = await overt.client.post(
            url, data={"credential": credential}, headers={**FORM, "origin": origin}
        )
        assert opened.status_code == 303, (origin, opened.text)
        page = await overt.client.get(opened.headers["location"])
        assert attacker.json()["subject_id"] in page.text
