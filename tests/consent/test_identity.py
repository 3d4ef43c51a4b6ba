"""Identification (tier 2) and data-subject requests, on both backends."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from services.consent.identities.models import consent_email_verifications, consent_identities
from services.consent.identities.service import get_identity
from services.consent.keys.service import load_site_keys
from services.consent.ledger.models import consent_ledger
from services.consent.ledger.service import verify_site
from services.consent.receipts.models import consent_receipts
from services.consent.rights.service import Regime, due_at
from services.consent.subjects.models import consent_subjects
from services.consent.verification.service import sign_assertion
from shared.consent_tokens import is_linkable
from shared.db import metadata
from shared.sites import Site, create_site
from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio

EMAIL = "ada.lovelace@example.org"


async def consenting(overt: Overt, site: Site, **choices: bool) -> dict[str, Any]:
    response = await overt.client.post(
        f"/consent/sites/{site.id}/decisions",
        json={"choices": choices or {"identification": True}},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def assertion_secret(overt: Overt, site_id: str) -> bytes:
    async with overt.resources.engine.connect() as conn:
        keys = await load_site_keys(
            conn=conn, secret=overt.resources.settings.secret(), site_id=site_id
        )
    assert keys is not None
    return keys.assertion_secret


def assertion(
    secret: bytes, site_id: str, subject_id: str, value: str = EMAIL, issued_at: int | None = None
) -> dict[str, Any]:
    issued = int(time.time()) if issued_at is None else issued_at
    return {
        "subject_id": subject_id,
        "kind": "email",
        "value": value,
        "issued_at": issued,
        "signature": sign_assertion(
            assertion_secret=secret,
            site_id=site_id,
            subject_id=subject_id,
            kind="email",
            value=value,
            issued_at=issued,
        ),
    }


async def test_site_asserted_identity_is_linked_and_sealed(overt: Overt, site: Site) -> None:
    subject = await consenting(overt, site)
    secret = await assertion_secret(overt, site.id)
    response = await overt.client.post(
        f"/consent/sites/{site.id}/identity/assert",
        json=assertion(secret, site.id, subject["subject_id"]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["method"] == "site_assertion"
    assert EMAIL not in response.text
    identity = await get_identity(
        resources=overt.resources, site_id=site.id, subject_id=subject["subject_id"]
    )
    assert identity is not None
    assert identity.value == EMAIL
    async with overt.resources.engine.connect() as conn:
        sealed = (await conn.execute(select(consent_identities.c.value_sealed))).scalar_one()
    assert EMAIL.encode() not in bytes(sealed)


async def test_forged_stale_and_cross_site_assertions_are_refused(overt: Overt, site: Site) -> None:
    subject = (await consenting(overt, site))["subject_id"]
    secret = await assertion_secret(overt, site.id)
    other = await create_site(engine=overt.resources.engine, domain="other.example")
    await overt.client.get(f"/consent/sites/{other.id}/purposes")  # sets the other site up
    other_secret = await assertion_secret(overt, other.id)
    url = f"/consent/sites/{site.id}/identity/assert"
    forged = assertion(secret, site.id, subject)
    forged["value"] = "someone.else@example.org"  # signed for another address
    cases = [
        forged,
        assertion(b"guessed" * 8, site.id, subject),
        assertion(other_secret, site.id, subject),
        assertion(secret, site.id, subject, issued_at=int(time.time()) - 3600),
    ]
    for body in cases:
        response = await overt.client.post(url, json=body)
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/invalid-assertion")
    assert (
        await get_identity(resources=overt.resources, site_id=site.id, subject_id=subject) is None
    )


async def test_identity_needs_identification_consent(overt: Overt, site: Site) -> None:
    subject = (await consenting(overt, site, analytics=True))["subject_id"]
    secret = await assertion_secret(overt, site.id)
    response = await overt.client.post(
        f"/consent/sites/{site.id}/identity/assert", json=assertion(secret, site.id, subject)
    )
    assert response.status_code == 403
    assert response.json()["type"].endswith("/consent-required")


async def test_email_link_goes_to_the_log_in_development_and_links_once(
    overt: Overt, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    subject = await consenting(overt, site)
    auth = {"authorization": f"Bearer {subject['credential']}"}
    with caplog.at_level(logging.WARNING, logger="overt.consent.identities"):
        response = await overt.client.post(
            f"/consent/sites/{site.id}/identity/email", json={"email": EMAIL}, headers=auth
        )
    assert response.status_code == 202, response.text
    lines = [r.getMessage() for r in caplog.records if "verification link" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith("DEVELOPMENT MODE")
    assert EMAIL not in lines[0]
    link = lines[0].rsplit(" ", 1)[1]
    path = link.removeprefix(overt.resources.settings.base_url)
    assert (
        await get_identity(
            resources=overt.resources, site_id=site.id, subject_id=subject["subject_id"]
        )
        is None
    )
    opened = await overt.client.get(path)
    assert opened.status_code == 200
    assert "text/html" in opened.headers["content-type"]
    assert EMAIL in opened.text
    # Opening the link (a mail scanner does) links nothing; the button does.
    assert (
        await get_identity(
            resources=overt.resources, site_id=site.id, subject_id=subject["subject_id"]
        )
        is None
    )
    token = path.rsplit("=", 1)[1]
    form = {"content-type": "application/x-www-form-urlencoded"}
    confirm = path.split("?", 1)[0]
    confirmed = await overt.client.post(confirm, data={"token": token}, headers=form)
    assert confirmed.status_code == 200
    identity = await get_identity(
        resources=overt.resources, site_id=site.id, subject_id=subject["subject_id"]
    )
    assert identity is not None
    assert (identity.value, identity.method) == (EMAIL, "email_link")
    again = await overt.client.post(confirm, data={"token": token}, headers=form)
    assert again.status_code == 400
    assert again.json()["type"].endswith("/verification-link")
    assert (await overt.client.get(path)).status_code == 400
    bad = await overt.client.post(
        f"/consent/sites/{site.id}/identity/email", json={"email": "nope"}, headers=auth
    )
    assert bad.status_code == 422


async def test_gpc_refuses_identification_and_records_an_opt_out(overt: Overt, site: Site) -> None:
    subject = await consenting(overt, site)
    auth = {"authorization": f"Bearer {subject['credential']}", "sec-gpc": "1"}
    response = await overt.client.post(
        f"/consent/sites/{site.id}/identity/email", json={"email": EMAIL}, headers=auth
    )
    assert response.status_code == 403
    assert response.json()["type"].endswith("/gpc-opt-out")
    async with overt.resources.engine.connect() as conn:
        events = (
            await conn.execute(
                select(consent_ledger.c.purpose, consent_ledger.c.event, consent_ledger.c.method)
                .where(consent_ledger.c.subject_id == subject["subject_id"])
                .order_by(consent_ledger.c.seq)
            )
        ).all()
    assert ("identification", "gpc_opt_out", "gpc") in [tuple(e) for e in events]
    check = await overt.client.post(
        f"/consent/sites/{site.id}/tokens/check", json={"token": subject["token"]}
    )
    assert check.status_code == 401


async def test_withdrawal_removes_the_identity_link(overt: Overt, site: Site) -> None:
    subject = await consenting(overt, site)
    secret = await assertion_secret(overt, site.id)
    await overt.client.post(
        f"/consent/sites/{site.id}/identity/assert",
        json=assertion(secret, site.id, subject["subject_id"]),
    )
    response = await overt.client.post(
        f"/consent/sites/{site.id}/decisions",
        json={"choices": {"identification": False}},
        headers={"authorization": f"Bearer {subject['credential']}"},
    )
    assert response.status_code == 200
    assert (
        await get_identity(
            resources=overt.resources, site_id=site.id, subject_id=subject["subject_id"]
        )
        is None
    )


async def test_export_has_ledger_with_notice_texts_identity_and_deadline(
    overt: Overt, site: Site
) -> None:
    subject = await consenting(overt, site, analytics=True, identification=True)
    secret = await assertion_secret(overt, site.id)
    await overt.client.post(
        f"/consent/sites/{site.id}/identity/assert",
        json=assertion(secret, site.id, subject["subject_id"]),
    )
    response = await overt.client.get(
        f"/consent/sites/{site.id}/export?regime=ccpa",
        headers={"authorization": f"Bearer {subject['credential']}"},
    )
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    data = response.json()
    assert data["subject_id"] == subject["subject_id"]
    assert data["identity"]["value"] == EMAIL
    assert [e["purpose"] for e in data["ledger"]] == ["analytics", "identification"]
    assert all(e["notice_text"] for e in data["ledger"])
    assert len(data["receipts"]) == 1
    assert {r["role"] for r in data["recipients"]} == {"controller", "processor"}
    [request] = data["requests"]
    assert request["kind"] == "export"
    assert request["regime"] == "ccpa"
    received = datetime.fromisoformat(request["received_at"].replace("Z", "+00:00"))
    due = datetime.fromisoformat(request["due_at"].replace("Z", "+00:00"))
    assert (due - received).days == 45
    assert request["completed_at"] is not None


def test_legal_deadlines() -> None:
    jan31 = datetime(2027, 1, 31, 12, tzinfo=UTC)
    assert due_at(Regime.gdpr, jan31) == datetime(2027, 2, 28, 12, tzinfo=UTC)
    assert due_at(Regime.gdpr, datetime(2026, 12, 15, tzinfo=UTC)) == datetime(
        2027, 1, 15, tzinfo=UTC
    )
    assert due_at(Regime.ccpa, jan31) == datetime(2027, 3, 17, 12, tzinfo=UTC)


async def test_erasure_leaves_no_identity_or_link_and_a_verifiable_chain(
    overt: Overt, site: Site
) -> None:
    subject = await consenting(overt, site, analytics=True, identification=True)
    subject_id = subject["subject_id"]
    auth = {"authorization": f"Bearer {subject['credential']}"}
    secret = await assertion_secret(overt, site.id)
    await overt.client.post(
        f"/consent/sites/{site.id}/identity/assert", json=assertion(secret, site.id, subject_id)
    )
    await overt.client.post(
        f"/consent/sites/{site.id}/identity/email", json={"email": EMAIL}, headers=auth
    )
    response = await overt.client.post(f"/consent/sites/{site.id}/erase", headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["kind"] == "erasure"
    assert response.json()["completed_at"] is not None

    async with overt.resources.engine.connect() as conn:
        for table in (
            consent_identities,
            consent_email_verifications,
            consent_receipts,
            consent_subjects,
        ):
            rows = (await conn.execute(select(table).where(table.c.subject_id == subject_id))).all()
            assert rows == [], table.name
        # No table holds the identity, in any form we could read back.
        for table in metadata.sorted_tables:
            for row in (await conn.execute(select(table))).all():
                assert EMAIL not in repr(tuple(row)), table.name
        last = (
            await conn.execute(
                select(consent_ledger)
                .where(consent_ledger.c.site_id == site.id)
                .order_by(consent_ledger.c.seq.desc())
                .limit(1)
            )
        ).one()
    assert (last.subject_id, last.event, last.purpose) == (subject_id, "erased", "*")
    report = await verify_site(
        engine=overt.resources.engine, secret=overt.resources.settings.secret(), site_id=site.id
    )
    assert report.ok, report.problems
    assert (
        await overt.client.get(f"/consent/sites/{site.id}/state", headers=auth)
    ).status_code == 401
    linkable = await is_linkable(
        subject["token"],
        site_id=site.id,
        secret=overt.resources.settings.secret(),
        revocations=overt.resources.revocations,
    )
    assert linkable is None
