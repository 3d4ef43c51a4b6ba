"""The widget's signed hand-over to the preference page, on both backends: a ten-minute link
that opens the page on the visitor's choices once when followed from the site's pages, and a
clear page (never the choices, never a cookie) for any other link: expired, already opened,
forged, for another site or purpose, for an erased visitor, or followed from elsewhere."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from services.consent.http import referer_host
from services.consent.preferences.handover import HANDOVER, SESSION
from shared.consent_tokens import issue_token
from shared.sites import Site
from tests.helpers.consent import page_url, post_decisions
from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio

FROM_SITE = {"referer": "https://shop.example.com/", "accept-language": "en"}
REFUSED_TEXT = {
    400: "This is not a valid link to your privacy choices.",
    403: "only when followed from the site's own pages",
    410: "",
}


async def subject(overt: Overt, site: Site) -> dict[str, Any]:
    response = await post_decisions(overt, site, analytics=True)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def handover(overt: Overt, site: Site, credential: str) -> tuple[str, str]:
    """The hand-over link (path and query) and its token."""
    response = await overt.client.post(
        f"{page_url(site)}/handover", headers={"authorization": f"Bearer {credential}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    url = response.json()["url"]
    return url, parse_qs(urlsplit(url).query)["token"][0]


def assert_refused(response: Any, status: int, says: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert "This link does not open your choices" in response.text
    assert says in response.text.replace("&#39;", "'")
    assert "overt_subject" not in response.headers.get("set-cookie", "")


async def test_a_handover_opens_the_page_on_the_visitors_choices(overt: Overt, site: Site) -> None:
    decided = await subject(overt, site)
    url, token = await handover(overt, site, decided["credential"])
    assert url.startswith(f"{page_url(site)}/open?token=oct1.")
    opened = await overt.client.get(url + "&lang=de", headers=FROM_SITE)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"{page_url(site)}?done=session&lang=de"
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith("overt_subject=oct1.")  # a session, not the credential
    assert decided["credential"] not in cookie
    assert "HttpOnly" in cookie
    assert f"Path={page_url(site).rsplit('/', 1)[0]}/" in cookie
    page = await overt.client.get(opened.headers["location"])
    assert decided["subject_id"] in page.text
    assert "Ihre Auswahl auf dieser Website steht unten." in page.text
    # The session acts like the credential: a choice made on the page is the visitor's.
    assert token not in page.text
    # A link opens once: the same link again (copied, leaked, from the history) is refused,
    # with a page that says so and no cookie; the widget's next link opens again.
    again = await overt.client.get(url, headers=FROM_SITE)
    assert_refused(again, 410, "was already opened: each link opens them once")
    fresh, _ = await handover(overt, site, decided["credential"])
    assert (await overt.client.get(fresh, headers=FROM_SITE)).status_code == 303


async def test_links_not_from_the_site_or_not_genuine_get_a_clear_page(
    overt: Overt, site: Site
) -> None:
    decided = await subject(overt, site)
    url, token = await handover(overt, site, decided["credential"])
    elsewhere = {"referer": "https://evil.example/phish"}
    assert_refused(await overt.client.get(url, headers=elsewhere), 403, REFUSED_TEXT[403])
    assert_refused(await overt.client.get(url), 403, REFUSED_TEXT[403])  # from a mail
    secret = overt.resources.settings.secret()
    subject_id = decided["subject_id"]
    cases = {
        "old": issue_token(
            secret=secret,
            site_id=site.id,
            subject_id=subject_id,
            purpose=HANDOVER,
            now=datetime.now(UTC) - timedelta(minutes=11),
            lifetime_ms=10 * 60 * 1000,
        )[0],
        "other site": issue_token(
            secret=secret, site_id="elsewhere", subject_id=subject_id, purpose=HANDOVER
        )[0],
        "identification": issue_token(secret=secret, site_id=site.id, subject_id=subject_id)[0],
        "session": issue_token(
            secret=secret, site_id=site.id, subject_id=subject_id, purpose=SESSION
        )[0],
        "other key": issue_token(
            secret=b"another deployment" * 2,
            site_id=site.id,
            subject_id=subject_id,
            purpose=HANDOVER,
        )[0],
    }
    open_url = f"{page_url(site)}/open"
    for name, forged in cases.items():
        response = await overt.client.get(open_url, params={"token": forged}, headers=FROM_SITE)
        if name == "old":
            assert_refused(response, 410, "has expired: it lasts ten minutes")
        else:
            assert_refused(response, 400, REFUSED_TEXT[400])
    # Erased: the link names nobody any more.
    erased = await overt.client.post(
        f"/consent/sites/{site.id}/erase",
        headers={"authorization": f"Bearer {decided['credential']}"},
    )
    assert erased.status_code == 200, erased.text
    assert_refused(
        await overt.client.get(url, headers=FROM_SITE), 410, "Everything linked to this link"
    )
    # A session cookie from before the erasure opens nothing either.
    german = await overt.client.get(url, headers={**FROM_SITE, "accept-language": "de"})
    assert "Dieser Link öffnet Ihre Einstellungen nicht" in german.text
    assert token


async def test_a_forged_session_cookie_shows_no_one(overt: Overt, site: Site) -> None:
    decided = await subject(overt, site)
    forged = issue_token(
        secret=b"not this deployment's" * 2,
        site_id=site.id,
        subject_id=decided["subject_id"],
        purpose=SESSION,
    )[0]
    overt.client.cookies.set("overt_subject", forged, path=f"/consent/sites/{site.id}/")
    page = await overt.client.get(page_url(site))
    assert decided["subject_id"] not in page.text
    assert "you have made no choice" in page.text


def flip(text: str, at: int, to: str) -> str:
    return text[:at] + to + text[at + 1 :]


def same_bytes(a: str, b: str) -> bool:
    """Whether two tokens carry the same bytes (base64url ignores a last char's spare bits)."""

    def decoded(token: str) -> list[bytes] | None:
        try:
            return [
                base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
                for part in token.split(".")[1:]
            ]
        except ValueError:
            return None

    return a.split(".")[0] == b.split(".")[0] and decoded(a) == decoded(b) is not None


@given(st.text(max_size=200))
def test_any_referer_is_read_as_a_host_or_nothing(referer: str) -> None:
    host = referer_host(referer)
    if host is not None:
        assert host == host.lower()
        assert "/" not in host
        assert "@" not in host
        assert referer.strip().lower().startswith(("http://", "https://"))


@given(
    st.sampled_from(["http", "https", "HTTPS"]),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True),
    st.one_of(st.just(""), st.integers(min_value=1, max_value=65535).map(lambda p: f":{p}")),
    st.from_regex(r"(/[A-Za-z0-9._~-]{0,12}){0,3}(\?[a-z=&]{0,12})?", fullmatch=True),
)
def test_a_pages_referer_names_its_host(scheme: str, host: str, port: str, path: str) -> None:
    assert referer_host(f"{scheme}://{host}{port}{path}") == f"{host}{port}"
    assert referer_host(f"{scheme}://user@{host}{port}{path}") is None  # never a user's


HANDED: dict[str, str] = {}  # one hand-over per test site: decisions are rate limited


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    garbage=st.text(max_size=300),
    at=st.integers(min_value=0, max_value=10_000),
    to=st.sampled_from("AbZ09-_.=x"),
    tamper=st.booleans(),
)
async def test_any_other_token_is_refused_with_a_page(
    overt: Overt, site: Site, garbage: str, at: int, to: str, tamper: bool
) -> None:
    if site.id not in HANDED:
        decided = await subject(overt, site)
        HANDED[site.id] = (await handover(overt, site, decided["credential"]))[1]
    token = HANDED[site.id]
    forged = flip(token, at % len(token), to) if tamper else garbage
    assume(forged != token and not same_bytes(forged, token))
    response = await overt.client.get(
        f"{page_url(site)}/open", params={"token": forged}, headers=FROM_SITE
    )
    assert_refused(response, 400, REFUSED_TEXT[400])
