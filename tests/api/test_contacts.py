"""Contacts on both backends, from the real collector and consent API: only subjects with
active identification consent, each explained; a withdrawn subject vanishes at the next call."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shared.identities import identities, shared_identities
from tests.helpers.consent import post_decisions
from tests.helpers.overt import Overt
from tests.helpers.people import (
    auth,
    consent_site,
    consented_subject,
    erase,
    full_key,
    name_subject,
    pricing_definition,
    visit,
    withdraw,
)
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio


async def test_contacts_are_consented_subjects_with_explained_scores(people: Overt) -> None:
    site = await consent_site(people)
    await pricing_definition(people)
    alice = await consented_subject(people, site, "Alice")
    bob = await consented_subject(people, site, "Bob")
    await visit(people, alice, "/pricing", "/docs", "/pricing")
    await visit(people, bob, "/")
    # An anonymous visitor and one who refused identification never appear.
    await people.send(people.event(u="https://example.com/pricing"), **{"user-agent": "Anon/1"})
    refused = await post_decisions(people, site, identification=False)
    assert refused.status_code == 201
    await people.drained()

    key = await full_key(people)
    response = await people.client.get(f"/v1/sites/{site.id}/contacts", headers=auth(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["definition_version"] == 1
    assert [c["subject_id"] for c in body["contacts"]] == [alice.subject_id, bob.subject_id]
    top = body["contacts"][0]
    # 3 pageviews x 1 point + 2 pricing views x 5 points (the default weights) = 13.
    assert top["score"] == 13
    assert {c["signal"]: c["points"] for c in top["explanation"]} == {
        "pageviews": 3.0,
        "high_intent_pages": 10.0,
    }
    assert top["intent"] is True
    assert [s["rule"] for s in top["signals"]] == ["pricing_twice"]
    assert top["summary"]["pageviews"] == 3
    assert top["summary"]["high_intent_pageviews"] == 2
    assert body["contacts"][1]["score"] == 1
    assert body["contacts"][1]["intent"] is False
    assert body["total"] == 2
    page = await people.client.get(
        f"/v1/sites/{site.id}/contacts", params={"limit": 1, "offset": 1}, headers=auth(key)
    )
    assert [c["subject_id"] for c in page.json()["contacts"]] == [bob.subject_id]
    assert page.json()["total"] == 2

    detail = await people.client.get(
        f"/v1/sites/{site.id}/contacts/{alice.subject_id}", headers=auth(key)
    )
    assert detail.status_code == 200, detail.text
    pages = [event["page"] for event in detail.json()["timeline"]]
    assert pages == ["example.com/pricing", "example.com/docs", "example.com/pricing"]
    unknown = await people.client.get(
        f"/v1/sites/{site.id}/contacts/{refused.json()['subject_id']}", headers=auth(key)
    )
    assert_problem(unknown, 404, "contact-not-found")


async def test_withdrawn_subject_vanishes_at_once_and_erased_never_returns(people: Overt) -> None:
    site = await consent_site(people)
    alice = await consented_subject(people, site, "Alice")
    bob = await consented_subject(people, site, "Bob")
    await visit(people, alice, "/a")
    await visit(people, bob, "/b")
    key = await full_key(people)
    url = f"/v1/sites/{site.id}/contacts"

    async def listed() -> list[str]:
        response = await people.client.get(url, headers=auth(key))
        assert response.status_code == 200, response.text
        return [c["subject_id"] for c in response.json()["contacts"]]

    assert sorted(await listed()) == sorted([alice.subject_id, bob.subject_id])
    await withdraw(people, site, alice)
    assert await listed() == [bob.subject_id]  # the very next call
    gone = await people.client.get(f"{url}/{alice.subject_id}", headers=auth(key))
    assert_problem(gone, 404, "contact-not-found")

    await erase(people, site, bob)
    assert await listed() == []
    gone = await people.client.get(f"{url}/{bob.subject_id}", headers=auth(key))
    assert_problem(gone, 404, "contact-not-found")


async def test_a_contact_is_named_by_what_it_shared_while_consent_lasts(people: Overt) -> None:
    site = await consent_site(people)
    alice = await consented_subject(people, site, "Alice")
    bob = await consented_subject(people, site, "Bob")
    carol = await consented_subject(people, site, "Carol")  # consented, never named
    for subject in (alice, bob, carol):
        await visit(people, subject, "/")
    await name_subject(people, site, alice, "Ada@Example.org", display_name="Ada Lovelace")
    await name_subject(people, site, bob, "crm-4711", kind="external_id")
    key = await full_key(people)
    url = f"/v1/sites/{site.id}/contacts"

    listed = await people.client.get(url, headers=auth(key))
    assert listed.status_code == 200, listed.text
    named = {c["subject_id"]: c["identity"] for c in listed.json()["contacts"]}
    assert named[alice.subject_id] is not None
    assert {k: v for k, v in named[alice.subject_id].items() if k != "verified_at"} == {
        "kind": "email",
        "value": "ada@example.org",  # as the consent service normalised it
        "email": "ada@example.org",
        "display_name": "Ada Lovelace",
        "method": "site_assertion",
    }
    assert named[bob.subject_id]["kind"] == "external_id"
    assert named[bob.subject_id]["value"] == "crm-4711"
    assert named[bob.subject_id]["email"] is None
    assert named[bob.subject_id]["display_name"] is None
    assert named[carol.subject_id] is None
    detail = await people.client.get(f"{url}/{alice.subject_id}", headers=auth(key))
    assert detail.json()["identity"]["display_name"] == "Ada Lovelace"
    assert detail.json()["timeline"][0]["page"] == "example.com/"
    async with people.resources.engine.connect() as conn:
        sealed = (await conn.execute(select(identities.c.display_name_sealed))).scalars().all()
    assert all(b"Ada" not in bytes(value) for value in sealed if value is not None)

    await withdraw(people, site, alice)
    again = await post_decisions(people, site, alice.credential, identification=True)
    assert again.status_code == 200, again.text
    await visit(people, alice, "/back")  # linked again, but the identity went with the consent
    after = await people.client.get(f"{url}/{alice.subject_id}", headers=auth(key))
    assert after.status_code == 200, after.text
    assert after.json()["identity"] is None
    assert "ada@example.org" not in (await people.client.get(url, headers=auth(key))).text


async def test_an_identity_is_never_read_past_its_consent(people: Overt) -> None:
    """Read at a moment the consent has expired (before the consent service ran its expiry),
    the identity still in the table is not given out."""
    site = await consent_site(people)
    alice = await consented_subject(people, site, "Alice")
    await name_subject(people, site, alice, "ada@example.org")
    secret = people.resources.settings.secret()
    async with people.resources.engine.connect() as conn:
        now = await shared_identities(
            conn=conn, secret=secret, site_id=site.id, subject_ids=[alice.subject_id]
        )
        later = await shared_identities(
            conn=conn,
            secret=secret,
            site_id=site.id,
            subject_ids=[alice.subject_id],
            now=datetime.now(UTC) + timedelta(days=400),
        )
        still_stored = (await conn.execute(select(identities.c.subject_id))).scalars().all()
    assert now[alice.subject_id].value == "ada@example.org"
    assert later == {}
    assert still_stored == [alice.subject_id]


async def test_an_address_the_visitor_confirmed_is_what_the_site_learns(
    people: Overt, caplog: pytest.LogCaptureFixture
) -> None:
    """The site never saw the address: the visitor typed it and confirmed the mailed link."""
    site = await consent_site(people)
    alice = await consented_subject(people, site, "Alice")
    await visit(people, alice, "/")
    with caplog.at_level(logging.WARNING, logger="overt.consent.identities"):
        asked = await people.client.post(
            f"/consent/sites/{site.id}/identity/email",
            json={"email": "Alice@Example.org"},
            headers=auth(alice.credential),
        )
    assert asked.status_code == 202, asked.text
    [line] = [r.getMessage() for r in caplog.records if "verification link" in r.getMessage()]
    path = line.rsplit(" ", 1)[1].removeprefix(people.resources.settings.base_url)
    key = await full_key(people)
    url = f"/v1/sites/{site.id}/contacts/{alice.subject_id}"
    assert (await people.client.get(url, headers=auth(key))).json()["identity"] is None
    confirmed = await people.client.post(
        path.split("?", 1)[0],
        data={"token": path.rsplit("=", 1)[1]},
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert confirmed.status_code == 200, confirmed.text
    identity = (await people.client.get(url, headers=auth(key))).json()["identity"]
    assert (identity["email"], identity["method"]) == ("alice@example.org", "email_link")
