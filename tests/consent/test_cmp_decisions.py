"""Decisions made in another consent manager (Cookiebot, OneTrust, Klaro, cookieconsent) and
posted by its bridge: recorded with the manager's name and the hash of the text it showed,
covered by the row hash, carried in the receipt and the history; bad combinations are a
clear 422, any body never a 5xx (property test)."""

from __future__ import annotations

import hashlib
from typing import Any

import anyio
import anyio.from_thread
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from services.consent.crypto import unb64url
from services.consent.ledger.models import consent_ledger
from services.consent.ledger.service import verify_site
from services.consent.receipts.service import verify_receipt
from shared.consent_state import identified_subjects
from shared.sites import Site
from tests.helpers.consent import as_attacker, overt_with
from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio

COOKIEBOT_TEXT = hashlib.sha256(b"We use cookies for statistics. OK?").hexdigest()


async def bridged(overt: Overt, site: Site, body: dict[str, Any]) -> httpx.Response:
    # As the bridge sends it: text/plain (no preflight), the credential in the body.
    return await overt.client.post(
        f"/consent/sites/{site.id}/decisions",
        content=httpx.Request("POST", "/", json=body).content,
        headers={"content-type": "text/plain"},
    )


def cmp_body(**choices: bool) -> dict[str, Any]:
    return {
        "choices": choices,
        "method": "cmp",
        "source": "cookiebot",
        "notice_sha256": COOKIEBOT_TEXT,
    }


async def test_a_bridged_decision_names_its_cmp_and_the_text_it_showed(
    overt: Overt, site: Site
) -> None:
    response = await bridged(overt, site, cmp_body(analytics=True, identification=True))
    assert response.status_code == 201, response.text
    body = response.json()
    granted = {p["purpose"]: p["granted"] for p in body["purposes"]}
    assert granted == {"analytics": True, "identification": True, "marketing_contact": False}
    assert body["consent_mode"]["analytics_storage"] == "granted"
    # Identification given in the CMP: a token, and the subject counts as identified.
    secret = overt.resources.settings.secret()
    check = f"/consent/sites/{site.id}/tokens/check"
    linked = await overt.client.post(check, json={"token": body["token"]})
    assert linked.json()["subject_id"] == body["subject_id"]
    async with overt.resources.engine.connect() as conn:
        assert await identified_subjects(conn=conn, site_id=site.id) == {body["subject_id"]}

    receipt = body["receipt"]
    assert receipt["receipt"]["collection_method"] == "cmp"
    assert receipt["receipt"]["notice"] == {"version": None, "url": None, "source": "cookiebot"}
    assert {
        (c["purpose"], c["notice_sha256"], c["source"]) for c in receipt["receipt"]["consents"]
    } == {
        ("analytics", COOKIEBOT_TEXT, "cookiebot"),
        ("identification", COOKIEBOT_TEXT, "cookiebot"),
    }
    keys = (await overt.client.get(f"/consent/sites/{site.id}/keys")).json()["keys"]
    assert verify_receipt(receipt, unb64url(keys[0]["x"]))

    auth = {"authorization": f"Bearer {body['credential']}"}
    history = (await overt.client.get(f"/consent/sites/{site.id}/history", headers=auth)).json()
    rows = [
        (e["purpose"], e["method"], e["source"], e["notice_version"], e["notice_sha256"])
        for e in history["entries"]
    ]
    assert rows == [
        ("analytics", "cmp", "cookiebot", None, COOKIEBOT_TEXT),
        ("identification", "cmp", "cookiebot", None, COOKIEBOT_TEXT),
    ]
    # A later decision in Overt's own API is Overt's text again, with no source.
    later = await bridged(
        overt,
        site,
        {"choices": {"analytics": False}, "method": "api", "credential": body["credential"]},
    )
    assert later.status_code == 200, later.text
    history = (await overt.client.get(f"/consent/sites/{site.id}/history", headers=auth)).json()
    assert history["entries"][-1]["source"] is None
    assert history["entries"][-1]["notice_version"] == 1
    report = await verify_site(engine=overt.resources.engine, secret=secret, site_id=site.id)
    assert report.problems == []
    assert report.rows == 3


async def test_the_source_is_covered_by_the_row_hash(overt: Overt, site: Site) -> None:
    assert (await bridged(overt, site, cmp_body(analytics=True))).status_code == 201
    async with as_attacker(overt.resources.engine) as conn:
        await conn.execute(
            update(consent_ledger)
            .where(consent_ledger.c.site_id == site.id, consent_ledger.c.seq == 1)
            .values(source="onetrust")
        )
    report = await verify_site(
        engine=overt.resources.engine, secret=overt.resources.settings.secret(), site_id=site.id
    )
    assert report.problems
    assert f"site {site.id} row 1 " in report.problems[0]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"method": "api"}, "cmp"),  # a source without method cmp
        ({"notice_sha256": None}, "cmp"),  # cmp without the text's hash
        ({"source": None}, "cmp"),
        ({"source": "usercentrics"}, "source"),
        ({"notice_sha256": "ABC"}, "notice_sha256"),
        ({"notice_sha256": COOKIEBOT_TEXT.upper()}, "notice_sha256"),
    ],
)
async def test_bad_cmp_fields_are_a_clear_422(
    overt: Overt, site: Site, changes: dict[str, Any], field: str
) -> None:
    body = {**cmp_body(analytics=True), **changes}
    response = await bridged(overt, site, {k: v for k, v in body.items() if v is not None})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["access-control-allow-origin"] == "*"
    # The field, or for a bad combination the rule, is named.
    errors = [f"{error['loc']} {error['msg']}" for error in response.json()["errors"]]
    assert any(field in error for error in errors), errors


BOUNDED = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=70), st.sampled_from(["cookiebot"])
)


async def test_any_cmp_fields_are_never_a_5xx(overt: Overt, site: Site) -> None:
    async with overt_with(overt, consent_client_rate_limit=100_000) as unlimited:
        await _any_cmp_fields(unlimited, site)


async def _any_cmp_fields(overt: Overt, site: Site) -> None:
    @BOUNDED
    @given(
        method=st.one_of(st.sampled_from(["cmp", "api", "widget"]), json_scalar),
        source=st.one_of(
            st.sampled_from(["cookiebot", "onetrust", "klaro", "cookieconsent"]), json_scalar
        ),
        text_hash=st.one_of(
            st.just(COOKIEBOT_TEXT), st.text(alphabet="0123456789abcdef", max_size=70), json_scalar
        ),
    )
    def check(method: Any, source: Any, text_hash: Any) -> None:
        body = {
            "choices": {"analytics": True},
            "method": method,
            "source": source,
            "notice_sha256": text_hash,
        }
        response = anyio.from_thread.run(bridged, overt, site, body)
        assert response.status_code < 500, (body, response.text)
        valid = (
            method == "cmp"
            and source in ("cookiebot", "onetrust", "klaro", "cookieconsent")
            and isinstance(text_hash, str)
            and len(text_hash) == 64
            and set(text_hash) <= set("0123456789abcdef")
        ) or (method in ("api", "widget") and source is None and text_hash is None)
        assert (response.status_code == 201) == valid, (body, response.text)

    await anyio.to_thread.run_sync(check)
