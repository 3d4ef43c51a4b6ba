"""Contacts on both backends, from the real collector and consent API: only subjects with
active identification consent, each explained; a withdrawn subject vanishes at the next call."""

from __future__ import annotations

import pytest

from tests.helpers.consent import post_decisions
from tests.helpers.overt import Overt
from tests.helpers.people import (
    auth,
    consent_site,
    consented_subject,
    erase,
    full_key,
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
