"""Outcomes on both backends: idempotent by the client's id, refused without identification
consent, and the lift report checked against numbers computed by hand."""

from __future__ import annotations

import pytest

from tests.api.people import (
    auth,
    consent_site,
    consented_subject,
    full_key,
    pricing_definition,
    visit,
    withdraw,
)
from tests.collector.test_intake import assert_problem
from tests.conftest import Overt

pytestmark = pytest.mark.anyio


async def test_outcome_is_idempotent_and_needs_consent(people: Overt) -> None:
    site = await consent_site(people)
    alice = await consented_subject(people, site, "Alice")
    key = await full_key(people)
    url = f"/v1/sites/{site.id}/outcomes"
    body = {
        "id": "crm-42",
        "kind": "revenue",
        "subject_id": alice.subject_id,
        "amount": "1250.50",
        "currency": "EUR",
    }
    first = await people.client.post(url, json=body, headers=auth(key))
    assert first.status_code == 201, first.text
    assert first.json()["amount"] == "1250.5"
    again = await people.client.post(url, json=body, headers=auth(key))
    assert again.status_code == 200
    assert again.json() == first.json()
    changed = await people.client.post(url, json={**body, "amount": "1"}, headers=auth(key))
    assert_problem(changed, 409, "outcome-id-reused")

    await withdraw(people, site, alice)
    refused = await people.client.post(url, json={**body, "id": "crm-43"}, headers=auth(key))
    assert_problem(refused, 409, "no-identification-consent")
    unknown = await people.client.post(
        url, json={**body, "id": "crm-44", "subject_id": "nobody"}, headers=auth(key)
    )
    assert_problem(unknown, 409, "no-identification-consent")
    campaign = await people.client.post(
        url,
        json={"id": "c-1", "kind": "deal_won", "utm_campaign": "spring", "utm_source": "news"},
        headers=auth(key),
    )
    assert campaign.status_code == 201, campaign.text


@pytest.mark.parametrize(
    "body",
    [
        {"id": "x", "kind": "meeting_booked"},  # neither subject nor campaign
        {"id": "x", "kind": "meeting_booked", "subject_id": "s", "utm_campaign": "c"},  # both
        {"id": "x", "kind": "revenue", "utm_campaign": "c"},  # revenue without amount
        {"id": "x", "kind": "deal_won", "utm_campaign": "c", "amount": "5"},  # no currency
        {"id": "x", "kind": "lunch", "utm_campaign": "c"},
        {"id": "has space", "kind": "deal_won", "utm_campaign": "c"},
    ],
)
async def test_malformed_outcome_is_422(people: Overt, body: dict[str, object]) -> None:
    key = await full_key(people)
    response = await people.client.post(
        f"/v1/sites/{people.site.id}/outcomes", json=body, headers=auth(key)
    )
    assert assert_problem(response, 422, "validation-error")["errors"]


async def test_lift_per_signal_and_score_band_matches_hand_computation(people: Overt) -> None:
    """Ten consented subjects. Five viewed /pricing twice (score 2 + 2x5 = 12, rule
    pricing_twice, intent); four of them booked a meeting, one lost the deal. Five viewed /
    once (score 1); one of them won a deal. Base rate 5/10 = 0.5; pricing_twice: 4/5 = 0.8,
    lift 1.6. Score cap 20, so the bands are [0, 5), [5, 10), [10, 15), [15, max]:
    [0, 5): 1/5 = 0.2, lift 0.4; [10, 15): 0.8, lift 1.6; the other two are empty."""
    site = await consent_site(people)
    await pricing_definition(people, cap=20)
    key = await full_key(people)
    keen = [await consented_subject(people, site, f"Keen{i}") for i in range(5)]
    casual = [await consented_subject(people, site, f"Casual{i}") for i in range(5)]
    for subject in keen:
        await visit(people, subject, "/pricing", "/pricing")
    for subject in casual:
        await visit(people, subject, "/")
    kinds = ["meeting_booked"] * 4 + ["deal_lost"]
    posted = [(s, kind) for s, kind in zip(keen, kinds, strict=True)] + [(casual[0], "deal_won")]
    for index, (subject, kind) in enumerate(posted):
        response = await people.client.post(
            f"/v1/sites/{site.id}/outcomes",
            json={"id": f"o{index}", "kind": kind, "subject_id": subject.subject_id},
            headers=auth(key),
        )
        assert response.status_code == 201, response.text
    await people.client.post(
        f"/v1/sites/{site.id}/outcomes",
        json={
            "id": "camp",
            "kind": "revenue",
            "utm_campaign": "spring",
            "amount": "99.99",
            "currency": "USD",
        },
        headers=auth(key),
    )

    async def report(**extra: object) -> dict[str, object]:
        response = await people.client.post(
            "/v1/reports/outcomes",
            json={"site_id": site.id, **extra},
            headers=auth(key),
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    body = await report()
    assert (body["subjects"], body["good_outcomes"], body["base_rate"]) == (10, 5, 0.5)
    signals = {row["group"]: row for row in body["signals"]}  # type: ignore[attr-defined]
    assert set(signals) == {"pricing_twice", "intent"}
    for name in ("pricing_twice", "intent"):
        assert signals[name] == {
            "group": name,
            "subjects": 5,
            "good_outcomes": 4,
            "rate": 0.8,
            "lift": 1.6,
            "suppressed": False,
        }
    bands = {row["group"]: row for row in body["score_bands"]}  # type: ignore[attr-defined]
    assert (bands["[0, 5)"]["subjects"], bands["[0, 5)"]["rate"], bands["[0, 5)"]["lift"]) == (
        5,
        0.2,
        0.4,
    )
    assert (bands["[10, 15)"]["good_outcomes"], bands["[10, 15)"]["lift"]) == (4, 1.6)
    assert list(bands) == ["[0, 5)", "[5, 10)", "[10, 15)", "[15, max]"]
    assert bands["[5, 10)"]["suppressed"]
    assert bands["[15, max]"]["suppressed"]
    assert body["campaigns"] == [
        {
            "utm_source": None,
            "utm_campaign": "spring",
            "outcomes": {"revenue": 1},
            "revenue": {"USD": "99.99"},
        }
    ]

    # Bands are the definition's, not the caller's: no two partitions to difference.
    chosen = await people.client.post(
        "/v1/reports/outcomes",
        json={"site_id": site.id, "band_edges": [11, 12]},
        headers=auth(key),
    )
    assert_problem(chosen, 422, "validation-error")
    # k can only be raised, never lowered below the site's k.
    lowered = await report(k=2)
    assert lowered["k"] == 5
    assert all(row["suppressed"] for row in lowered["score_bands"][1::2])  # type: ignore[index]

    # k = 6: groups of five are not reported, the ten-subject base still is.
    strict = await report(k=6)
    assert strict["base_rate"] == 0.5
    assert all(row["suppressed"] and row["subjects"] is None for row in strict["signals"])  # type: ignore[attr-defined]

    # A withdrawn subject leaves the report: 9 subjects, 4 good (keen[0] booked a meeting).
    await withdraw(people, site, keen[0])
    after = await report()
    assert (after["subjects"], after["good_outcomes"]) == (9, 4)
    after_signals = {row["group"]: row for row in after["signals"]}  # type: ignore[attr-defined]
    assert after_signals["pricing_twice"]["subjects"] is None  # 4 < k = 5: suppressed
