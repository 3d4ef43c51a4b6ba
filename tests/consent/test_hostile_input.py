"""Hostile input to the consent service's public endpoints: a clear 4xx, never a 5xx.

Property tests (hypothesis, bounded and derandomised) drive every parser of outside input the
consent service has: the Origin header of the preference forms, their form bodies, and
e-mail addresses, through HTTP on both backends.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import anyio.from_thread
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.sites import Site
from tests.helpers.consent import FORM, open_page, overt_with, page_url, post, post_decisions
from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio

# Budgets above what a property test sends: the answers behind the rate limits are tested.
UNLIMITED = {
    "consent_client_rate_limit": 100_000,
    "consent_site_rate_limit": 100_000,
    "consent_mails_per_address": 100_000,
    "consent_mails_per_client": 100_000,
}
BOUNDED = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FORBIDDEN_IN_ADDRESSES = set('\x00<>,"()[];: \\') | {chr(c) for c in range(0x20)} | {"\x7f"}

# Origins, URLs and Referers as an attacker or a broken client writes them.
url_ish = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda scheme, host, rest: f"{scheme}{host}{rest}",
        st.sampled_from(["https://", "http://", "", "//", "https:", "javascript:"]),
        st.text(alphabet="[]:@%.-x0123456789abcdef", max_size=30),
        st.text(max_size=20),
    ),
    st.sampled_from(["https://[x", "https://[", "http://]", "null", "https://[::1", "https://a:b"]),
)


async def explore(check: Callable[..., None]) -> None:
    """Run a hypothesis test (sync) in a thread; it calls back into this event loop."""
    await anyio.to_thread.run_sync(check)


@pytest.mark.parametrize("origin", ["https://[x", "http://[::1", "https://]"])
async def test_an_unclosed_bracket_in_origin_is_a_4xx(
    overt: Overt, site: Site, origin: str
) -> None:
    _, csrf = await open_page(overt, site)
    for action in ("choices", "export", "erase", "email", "session"):
        response = await overt.client.post(
            f"{page_url(site)}/{action}",
            data={"csrf": csrf, "grant": "analytics", "credential": "x"},
            headers={**FORM, "origin": origin},
        )
        assert 400 <= response.status_code < 500, (action, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_any_origin_on_the_forms_is_never_a_5xx(overt: Overt, site: Site) -> None:
    async with overt_with(overt, **UNLIMITED) as unlimited:
        await _any_origin_on_the_forms_is_never_a_5xx(unlimited, site)


async def _any_origin_on_the_forms_is_never_a_5xx(overt: Overt, site: Site) -> None:
    _, csrf = await open_page(overt, site)

    async def send(action: str, origin: str) -> httpx.Response:
        return await overt.client.post(
            f"{page_url(site)}/{action}",
            data={"csrf": csrf, "grant": "analytics"},
            headers={
                b"content-type": b"application/x-www-form-urlencoded",
                b"origin": origin.encode("utf-8", "replace"),
            },
        )

    @BOUNDED
    @given(action=st.sampled_from(["choices", "session", "email"]), origin=url_ish)
    def check(action: str, origin: str) -> None:
        response = anyio.from_thread.run(send, action, origin)
        assert response.status_code < 500, (origin, response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"

    await explore(check)


async def test_any_form_body_is_never_a_5xx(overt: Overt, site: Site) -> None:
    async with overt_with(overt, **UNLIMITED) as unlimited:
        await _any_form_body_is_never_a_5xx(unlimited, site)


async def _any_form_body_is_never_a_5xx(overt: Overt, site: Site) -> None:
    _, csrf = await open_page(overt, site)

    async def send(action: str, body: bytes) -> httpx.Response:
        return await overt.client.post(
            f"{page_url(site)}/{action}",
            content=body,
            headers={**FORM, "origin": "http://overt.test"},
        )

    field = st.one_of(url_ish, st.text(max_size=40))
    bodies = st.one_of(
        st.binary(max_size=200),
        st.dictionaries(
            st.sampled_from(["csrf", "grant", "withdraw", "email", "credential", "token", "x["]),
            field,
            max_size=4,
        ).map(lambda fields: httpx.QueryParams({"csrf": csrf, **fields}).__str__().encode()),
    )

    @BOUNDED
    @given(action=st.sampled_from(["choices", "email", "session", "export", "erase"]), body=bodies)
    def check(action: str, body: bytes) -> None:
        response = anyio.from_thread.run(send, action, body)
        assert response.status_code < 500, (body, response.text)

    await explore(check)


@pytest.mark.parametrize(
    "address",
    [
        "a\x00b@example.org",
        "a\x01@example.org",
        "<a@example.org>",
        "a,b@example.org",
        '"a b"@example.org',
        "a@example.org\r\nBcc: victim@example.org",
        "a@exa mple.org",
        "a@[127.0.0.1]",
        "ü@example.org",  # needs SMTPUTF8, which the mail server may refuse at send time
    ],
)
async def test_a_hostile_address_is_refused_with_422(
    overt: Overt, site: Site, address: str
) -> None:
    decided = await post_decisions(overt, site, identification=True)
    credential = decided.json()["credential"]
    response = await overt.client.post(
        f"/consent/sites/{site.id}/identity/email",
        json={"email": address},
        headers={"authorization": f"Bearer {credential}"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/invalid-email")


async def test_any_display_name_is_refused_with_422_or_kept_exactly(
    overt: Overt, site: Site
) -> None:
    async with overt_with(overt, **UNLIMITED) as unlimited:
        await _any_display_name(unlimited, site)


async def _any_display_name(overt: Overt, site: Site) -> None:
    from services.consent.identities.service import get_identity
    from tests.helpers.people import Subject, name_subject

    decided = (await post_decisions(overt, site, identification=True)).json()
    subject = Subject(decided["subject_id"], decided["credential"], decided["token"], "A/1")

    async def send(name: str) -> tuple[str | None, str | None]:
        try:
            await name_subject(overt, site, subject, "ada@example.org", display_name=name)
        except AssertionError as refused:
            return None, str(refused)
        identity = await get_identity(
            resources=overt.resources, site_id=site.id, subject_id=subject.subject_id
        )
        assert identity is not None
        return identity.display_name, None

    async def raw(name: object) -> httpx.Response:
        return await overt.client.post(
            f"/consent/sites/{site.id}/identity/assert",
            json={
                "subject_id": subject.subject_id,
                "kind": "email",
                "value": "ada@example.org",
                "issued_at": 0,
                "signature": "0" * 64,
                "display_name": name,
            },
        )

    @BOUNDED
    @given(name=st.text(max_size=220))
    def check(name: str) -> None:
        kept, refusal = anyio.from_thread.run(send, name)
        clean = 1 <= len(name) <= 200 and not any(ord(c) < 0x20 or c == "\x7f" for c in name)
        if clean:
            assert kept == name, (name, refusal)
        else:
            assert kept is None, name
            assert refusal is not None
            assert "422" in refusal, (name, refusal)

    await explore(check)
    for hostile in (["a"], {"a": 1}, 7, "x" * 201, "a\nb"):
        response = await raw(hostile)
        assert response.status_code == 422, (hostile, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_any_address_is_never_a_5xx_and_what_is_accepted_is_clean(
    overt: Overt, site: Site
) -> None:
    async with overt_with(overt, **UNLIMITED) as unlimited:
        await _any_address_is_never_a_5xx(unlimited, site)


async def _any_address_is_never_a_5xx(overt: Overt, site: Site) -> None:
    decided = await post_decisions(overt, site, identification=True)
    credential = decided.json()["credential"]

    async def send(address: str) -> httpx.Response:
        return await overt.client.post(
            f"/consent/sites/{site.id}/identity/email",
            json={"email": address},
            headers={"authorization": f"Bearer {credential}"},
        )

    addresses = st.one_of(
        st.emails(),
        st.text(max_size=80),
        st.builds(
            lambda local, domain: f"{local}@{domain}",
            st.text(max_size=20),
            st.text(max_size=20),
        ),
    )

    @BOUNDED
    @given(address=addresses)
    def check(address: str) -> None:
        response = anyio.from_thread.run(send, address)
        assert response.status_code in (202, 422), (address, response.text)

    await explore(check)


@BOUNDED
@given(
    address=st.one_of(
        st.emails(),
        st.text(max_size=60),
        st.builds(lambda a, b: f"{a}@{b}", st.text(max_size=20), st.text(max_size=20)),
    )
)
def test_accepted_addresses_are_normalised_and_clean(address: str) -> None:
    from services.consent.verification.exceptions import InvalidEmail
    from services.consent.verification.service import normalise_email

    try:
        normalised = normalise_email(address)
    except InvalidEmail:
        return
    assert not FORBIDDEN_IN_ADDRESSES & set(normalised)
    assert normalised.isascii()  # mailable without SMTPUTF8
    assert normalised == normalised.strip()
    assert normalised.count("@") == 1
    assert normalise_email(normalised) == normalised  # idempotent
    assert normalised == normalised.lower()
    assert len(normalised) <= 254


async def test_a_valid_address_is_normalised_before_it_is_mailed(
    overt: Overt, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    decided = await post_decisions(overt, site, identification=True)
    credential = decided.json()["credential"]
    response = await overt.client.post(
        f"/consent/sites/{site.id}/identity/email",
        json={"email": "  Someone@EXAMPLE.org "},
        headers={"authorization": f"Bearer {credential}"},
    )
    assert response.status_code == 202, response.text
    link = next(r.getMessage() for r in caplog.records if "verification link" in r.getMessage())
    token = link.rsplit("token=", 1)[1]
    page = await overt.client.get(
        f"/consent/sites/{site.id}/identity/verify", params={"token": token}
    )
    assert "someone@example.org" in page.text


async def test_the_session_form_with_hostile_fields_is_a_4xx(overt: Overt, site: Site) -> None:
    for credential in ("[", "https://[x", "\x00", "a" * 10_000):
        response = await post(overt, site, "session", credential=credential)
        assert 400 <= response.status_code < 500, response.text
