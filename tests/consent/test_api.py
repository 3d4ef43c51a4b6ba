"""The consent API on both backends: decisions, receipts, state, history, tokens, GPC."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.consent.crypto import unb64url
from services.consent.decisions.service import record_decisions
from services.consent.ledger.service import Method
from services.consent.receipts.service import verify_receipt
from services.consent.sites.service import ensure_site
from services.consent.state.service import consent_state
from services.consent.subjects.service import create_subject
from services.consent.tokens.service import restore_revocations
from shared.consent_tokens import is_linkable, issue_token
from shared.errors import ProblemError
from shared.runtime import open_resources
from shared.settings import Settings
from shared.sites import Site, create_site
from tests.helpers.consent import post_decisions
from tests.helpers.overt import Overt
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"


def states(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["purpose"]: p for p in body["purposes"]}


async def test_purposes_are_public_and_unknown_site_is_404(overt: Overt, site: Site) -> None:
    response = await overt.client.get(f"/consent/sites/{site.id}/purposes")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    assert body["notice_version"] == 1
    assert [p["purpose"] for p in body["purposes"]] == [
        "analytics",
        "identification",
        "marketing_contact",
    ]
    assert body["purposes"][0]["consent_mode"] == ["analytics_storage"]
    missing = await overt.client.get("/consent/sites/nosuchsite/purposes")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert missing.json()["type"].endswith("/unknown-site")


async def test_first_decision_creates_a_subject_and_a_receipt_verifiable_offline(
    overt: Overt, site: Site
) -> None:
    response = await post_decisions(overt, site, analytics=True, marketing_contact=False)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["credential"].startswith("ocs1.")
    assert len(body["subject_id"]) == 32
    assert states(body)["analytics"]["granted"] is True
    assert states(body)["marketing_contact"]["status"] == "refused"
    assert body["consent_mode"]["analytics_storage"] == "granted"
    assert body["consent_mode"]["ad_storage"] == "denied"
    assert body["token"] is None

    receipt = body["receipt"]
    assert receipt["receipt"]["data_subject"]["id"] == body["subject_id"]
    assert receipt["receipt"]["controller"] == {"site_id": site.id, "domain": site.domain}
    assert receipt["receipt"]["jurisdiction"] == "EU"
    assert [c["status"] for c in receipt["receipt"]["consents"]] == ["given", "refused"]
    keys = (await overt.client.get(f"/consent/sites/{site.id}/keys")).json()["keys"]
    assert keys[0]["kid"] == receipt["key_id"]
    public_key = unb64url(keys[0]["x"])
    assert verify_receipt(receipt, public_key)
    forged = {**receipt, "receipt": {**receipt["receipt"], "jurisdiction": "US"}}
    assert not verify_receipt(forged, public_key)


async def test_state_history_and_withdrawal(overt: Overt, site: Site) -> None:
    first = (await post_decisions(overt, site, analytics=True)).json()
    credential = first["credential"]
    auth = {"authorization": f"Bearer {credential}"}
    again = await post_decisions(overt, site, credential, analytics=False)
    assert again.status_code == 200
    assert again.json()["credential"] is None
    state = await overt.client.get(f"/consent/sites/{site.id}/state", headers=auth)
    assert state.status_code == 200
    assert states(state.json())["analytics"]["status"] == "withdrawn"
    assert states(state.json())["analytics"]["granted"] is False
    history = (await overt.client.get(f"/consent/sites/{site.id}/history", headers=auth)).json()
    assert [e["event"] for e in history["entries"]] == ["given", "withdrawn"]
    assert len(history["receipts"]) == 2


async def test_missing_wrong_and_cross_site_credentials_are_401(overt: Overt, site: Site) -> None:
    credential = (await post_decisions(overt, site, analytics=True)).json()["credential"]
    other = await create_site(engine=overt.resources.engine, domain="other.example")
    url = f"/consent/sites/{site.id}/state"
    missing = await overt.client.get(url)
    assert missing.status_code == 401
    assert missing.json()["type"].endswith("/subject-required")
    wrong = await overt.client.get(url, headers={"authorization": f"Bearer {credential}x"})
    assert wrong.status_code == 401
    assert wrong.json()["type"].endswith("/invalid-subject")
    cross = await overt.client.get(
        f"/consent/sites/{other.id}/state", headers={"authorization": f"Bearer {credential}"}
    )
    assert cross.status_code == 401
    assert cross.headers["content-type"] == PROBLEM
    forged = await post_decisions(overt, site, "ocs1.0000.nope", analytics=True)
    assert forged.status_code == 401


async def test_bad_bodies_are_clear_4xx(overt: Overt, site: Site) -> None:
    url = f"/consent/sites/{site.id}/decisions"
    not_json = await overt.client.post(url, content=b"{", headers={"content-type": "text/plain"})
    assert not_json.status_code == 400
    unknown = await overt.client.post(url, json={"choices": {"telepathy": True}})
    assert unknown.status_code == 422
    assert unknown.json()["type"].endswith("/unknown-purpose")
    empty = await overt.client.post(url, json={"choices": {}})
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["loc"] == ["choices"]
    xml = await overt.client.post(url, content=b"<a/>", headers={"content-type": "text/xml"})
    assert xml.status_code == 415
    for response in (not_json, unknown, empty, xml):
        assert response.headers["content-type"] == PROBLEM


async def test_widget_posts_text_plain_with_the_credential_in_the_body(
    overt: Overt, site: Site
) -> None:
    first = (await post_decisions(overt, site, analytics=True)).json()
    response = await overt.client.post(
        f"/consent/sites/{site.id}/decisions",
        content=(
            b'{"choices":{"analytics":false},"method":"widget","credential":"'
            + first["credential"].encode()
            + b'"}'
        ),
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 200
    assert response.json()["subject_id"] == first["subject_id"]
    assert states(response.json())["analytics"]["status"] == "withdrawn"


async def test_identification_token_is_linkable_until_withdrawn(overt: Overt, site: Site) -> None:
    body = (await post_decisions(overt, site, identification=True)).json()
    token = body["token"]
    assert token.startswith("oct1.")
    check = f"/consent/sites/{site.id}/tokens/check"
    ok = await overt.client.post(check, json={"token": token})
    assert ok.status_code == 200
    assert ok.json()["subject_id"] == body["subject_id"]
    await post_decisions(overt, site, body["credential"], identification=False)
    revoked = await overt.client.post(check, json={"token": token})
    assert revoked.status_code == 401
    assert revoked.json()["type"].endswith("/consent-token-revoked")
    refused = await overt.client.post(
        f"/consent/sites/{site.id}/tokens",
        headers={"authorization": f"Bearer {body['credential']}"},
    )
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/consent-required")
    # Granting again issues a new token that works; the old one stays dead.
    renewed = (await post_decisions(overt, site, body["credential"], identification=True)).json()
    assert (await overt.client.post(check, json={"token": renewed["token"]})).status_code == 200
    assert (await overt.client.post(check, json={"token": token})).status_code == 401


async def test_forged_expired_and_cross_site_tokens_are_refused(overt: Overt, site: Site) -> None:
    body = (await post_decisions(overt, site, identification=True)).json()
    token = body["token"]
    other = await create_site(engine=overt.resources.engine, domain="other.example")
    await ensure_site(
        engine=overt.resources.engine, secret=overt.resources.settings.secret(), site_id=other.id
    )
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    expired, _ = issue_token(
        secret=overt.resources.settings.secret(),
        site_id=site.id,
        subject_id=body["subject_id"],
        now=datetime.now(UTC) - timedelta(days=2),
    )
    other_secret, _ = issue_token(
        secret=b"an attacker's secret of sufficient length!",
        site_id=site.id,
        subject_id=body["subject_id"],
    )
    cases = {
        f"{head}.{payload}.{flipped}": (site.id, "consent-token-signature"),
        other_secret: (site.id, "consent-token-signature"),
        "not-a-token": (site.id, "consent-token-malformed"),
        expired: (site.id, "consent-token-expired"),
        token: (other.id, "consent-token-site"),
    }
    for candidate, (site_id, slug) in cases.items():
        response = await overt.client.post(
            f"/consent/sites/{site_id}/tokens/check", json={"token": candidate}
        )
        assert response.status_code == 401, (slug, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"].endswith("/" + slug)


async def test_gpc_refuses_identification_and_records_it(overt: Overt, site: Site) -> None:
    response = await overt.client.post(
        f"/consent/sites/{site.id}/decisions",
        json={"choices": {"analytics": True, "identification": True}},
        headers={"sec-gpc": "1"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token"] is None
    assert states(body)["identification"]["status"] == "gpc_opt_out"
    assert states(body)["marketing_contact"]["status"] == "gpc_opt_out"
    assert states(body)["analytics"]["granted"] is True
    methods = {c["purpose"]: c["status"] for c in body["receipt"]["receipt"]["consents"]}
    assert methods["identification"] == "gpc_opt_out"


async def test_withdrawal_reaches_another_process_within_a_second(
    postgres_settings: Settings,
) -> None:
    """Two processes on one Redis: a withdrawal in one stops linking in the other."""
    async with (
        open_resources(postgres_settings) as consent,
        open_resources(postgres_settings) as collector,
    ):
        made = await create_site(engine=consent.engine, domain="two.example")
        site = await ensure_site(
            engine=consent.engine, secret=consent.settings.secret(), site_id=made.id
        )
        subject = await create_subject(engine=consent.engine, site_id=site.id)
        given = await record_decisions(
            resources=consent,
            site=site,
            subject_id=subject.subject_id,
            choices={"identification": True},
            method=Method.api,
        )
        assert given.token is not None
        secret = collector.settings.secret()

        async def linkable() -> bool:
            claims = await is_linkable(
                given.token, site_id=site.id, secret=secret, revocations=collector.revocations
            )
            return claims is not None

        assert await linkable()  # and now cached as "not revoked" in the collector
        await record_decisions(
            resources=consent,
            site=site,
            subject_id=subject.subject_id,
            choices={"identification": False},
            method=Method.preference_page,
        )
        async with asyncio.timeout(1.0):
            while await linkable():
                await asyncio.sleep(0.01)
        assert not await linkable()


async def test_withdrawal_in_process_is_immediate(sqlite_settings: Settings) -> None:
    async with open_resources(sqlite_settings) as resources:
        made = await create_site(engine=resources.engine, domain="one.example")
        site = await ensure_site(
            engine=resources.engine, secret=resources.settings.secret(), site_id=made.id
        )
        subject = await create_subject(engine=resources.engine, site_id=site.id)
        given = await record_decisions(
            resources=resources,
            site=site,
            subject_id=subject.subject_id,
            choices={"identification": True},
            method=Method.api,
        )
        kwargs: dict[str, Any] = {
            "site_id": site.id,
            "secret": resources.settings.secret(),
            "revocations": resources.revocations,
        }
        assert await is_linkable(given.token, **kwargs) is not None
        await record_decisions(
            resources=resources,
            site=site,
            subject_id=subject.subject_id,
            choices={"identification": False},
            method=Method.api,
        )
        assert await is_linkable(given.token, **kwargs) is None


async def test_logs_hold_no_credential_token_identity_or_ip(
    overt: Overt, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    email = "grace.hopper@example.org"
    with caplog.at_level(logging.DEBUG, logger="overt"):
        body = (await post_decisions(overt, site, identification=True, analytics=True)).json()
        auth = {"authorization": f"Bearer {body['credential']}"}
        await overt.client.post(
            f"/consent/sites/{site.id}/identity/email", json={"email": email}, headers=auth
        )
        await overt.client.post(f"/consent/sites/{site.id}/tokens", headers=auth)
        await overt.client.post(f"/consent/sites/{site.id}/tokens/check", json={"token": "x" * 40})
        await overt.client.get(
            f"/consent/sites/{site.id}/state", headers={"authorization": "Bearer no"}
        )
        await overt.client.post(f"/consent/sites/{site.id}/erase", headers=auth)
    lines = [record.getMessage() for record in caplog.records]
    assert any("401" in line for line in lines)  # the access log did record something
    # The one deliberate exception: the development-mode verification link.
    ordinary = [line for line in lines if not line.startswith("DEVELOPMENT MODE")]
    text = "\n".join(
        ordinary + [repr(r.__dict__) for r in caplog.records if r.getMessage() in ordinary]
    )
    secret_part = body["credential"].rsplit(".", 1)[1]
    for forbidden in (secret_part, body["token"], email, "203.0.113.7", "TestBrowser"):
        assert forbidden not in text


async def test_preflight_only_where_needed(overt: Overt, site: Site) -> None:
    preflight = await overt.client.options(
        f"/consent/sites/{site.id}/tokens",
        headers={"origin": "https://example.com", "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 204
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    unknown = await overt.client.get(f"/consent/sites/{site.id}/nothing-here")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == PROBLEM


async def test_errors_are_readable_by_the_widget_cross_origin(overt: Overt, site: Site) -> None:
    response = await post_decisions(overt, site, "ocs1.unknown.subject", analytics=True)
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == "*"
    invalid = await overt.client.post(
        f"/consent/sites/{site.id}/decisions",
        content=b'{"choices":{}}',
        headers={"content-type": "text/plain"},
    )
    assert invalid.status_code == 422
    assert invalid.headers["access-control-allow-origin"] == "*"


async def test_consent_api_is_documented(overt: Overt) -> None:
    paths = (await overt.client.get("/openapi.json")).json()["paths"]
    for path in ("decisions", "state", "history", "tokens", "keys", "export", "erase"):
        assert f"/consent/sites/{{site_id}}/{path}" in paths
    decisions = paths["/consent/sites/{site_id}/decisions"]["post"]
    assert set(decisions["requestBody"]["content"]) == {"application/json", "text/plain"}


async def test_withdrawal_is_not_recorded_when_it_cannot_be_published(
    postgres_settings: Settings,
) -> None:
    """Redis down: a 503 and nothing in the ledger, rather than a withdrawal tokens ignore."""
    broken = postgres_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    async with open_resources(postgres_settings) as healthy, open_resources(broken) as cut_off:
        made = await create_site(engine=healthy.engine, domain="down.example")
        site = await ensure_site(
            engine=healthy.engine, secret=healthy.settings.secret(), site_id=made.id
        )
        subject = await create_subject(engine=healthy.engine, site_id=site.id)
        await record_decisions(
            resources=healthy,
            site=site,
            subject_id=subject.subject_id,
            choices={"identification": True},
            method=Method.api,
        )
        with pytest.raises(ProblemError) as refused:
            await record_decisions(
                resources=cut_off,
                site=site,
                subject_id=subject.subject_id,
                choices={"identification": False},
                method=Method.api,
            )
        assert refused.value.status == 503
        states = await consent_state(
            engine=healthy.engine, site_id=site.id, subject_id=subject.subject_id
        )
    assert next(s for s in states if s.purpose.purpose == "identification").granted


async def test_revocations_survive_a_restart_of_the_embedded_process(
    sqlite_settings: Settings,
) -> None:
    async with open_resources(sqlite_settings) as before:
        made = await create_site(engine=before.engine, domain="restart.example")
        site = await ensure_site(
            engine=before.engine, secret=before.settings.secret(), site_id=made.id
        )
        subject = await create_subject(engine=before.engine, site_id=site.id)
        given = await record_decisions(
            resources=before,
            site=site,
            subject_id=subject.subject_id,
            choices={"identification": True},
            method=Method.api,
        )
        await record_decisions(
            resources=before,
            site=site,
            subject_id=subject.subject_id,
            choices={"identification": False},
            method=Method.api,
        )
    async with open_resources(sqlite_settings) as after:
        kwargs: dict[str, Any] = {
            "site_id": site.id,
            "secret": after.settings.secret(),
            "revocations": after.revocations,
        }
        assert await is_linkable(given.token, **kwargs) is not None  # memory was lost...
        await restore_revocations(after)
        assert await is_linkable(given.token, **kwargs) is None  # ...the ledger was not


async def test_consent_to_a_text_no_longer_shown_is_refused_whole(overt: Overt, site: Site) -> None:
    purposes = (await overt.client.get(f"/consent/sites/{site.id}/purposes")).json()["purposes"]
    current = {p["purpose"]: p["notice_sha256"] for p in purposes}
    url = f"/consent/sites/{site.id}/decisions"
    stale = {**current, "marketing_contact": "0" * 64}
    body = {"choices": {"analytics": True, "marketing_contact": True}, "shown": stale}
    refused = await overt.client.post(url, json=body)
    problem = assert_problem(refused, 409, "notice-changed")
    assert "marketing_contact" in str(problem["detail"])
    assert "analytics" not in str(problem["detail"])
    # A refusal needs no text; a tick on the current text is consent, recorded.
    body["choices"] = {"analytics": True, "marketing_contact": False}
    recorded = await overt.client.post(url, json=body)
    assert recorded.status_code == 201, recorded.text
    auth = {"authorization": f"Bearer {recorded.json()['credential']}"}
    history = (await overt.client.get(f"/consent/sites/{site.id}/history", headers=auth)).json()
    assert sorted((e["purpose"], e["event"]) for e in history["entries"]) == [
        ("analytics", "given"),
        ("marketing_contact", "refused"),
    ]
