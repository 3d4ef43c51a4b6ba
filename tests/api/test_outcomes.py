"""Outcomes on both backends: idempotent by the client's id, refused without identification
consent, and the lift report checked against numbers computed by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from shared.models import sites
from tests.helpers.overt import Overt
from tests.helpers.people import (
    auth,
    consent_site,
    consented_subject,
    full_key,
    pricing_definition,
    visit,
    withdraw,
)
from tests.helpers.problems import assert_problem
from tests.helpers.traffic import days

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
            json={"site_id": site.id, "date_range": days(), **extra},
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
        json={"site_id": site.id, "date_range": days(), "band_edges": [11, 12]},
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


async def test_outcome_report_reads_its_date_range_in_the_site_time_zone(people: Overt) -> None:
    """A Tokyo site. 2026-03-01 15:30 UTC is 03-02 00:30 in Tokyo; 14:30 UTC is 03-01 23:30.
    Then (Tokyo 03-02): casual0..4 got outcomes, 0..2 good (deal won), 3..4 deal lost, and the
    campaign spring won a deal. Then (Tokyo 03-01): keen0 booked a meeting, campaign winter
    won a deal. Today: keen0..3 booked meetings, keen4 lost the deal, casual0 won one; the
    keen five viewed /pricing twice today, the casual five / once.

    03-02 alone: only the casual five are in it (an outcome, no event), all scored 0: 3 of 5,
    base 0.6, one band [0, 5) at 0.6 (lift 1). Read in UTC, that day would be empty.
    03-01 alone: keen0 only, under k. Yesterday and today: the ten, 5 good (base 0.5).
    03-01 to today: the ten, 7 good (keen0..3, casual0..2): base 0.7; [0, 5) 3/5 = 0.6, lift
    0.6 / 0.7 = 0.857143; pricing_twice 4/5 = 0.8, lift 0.8 / 0.7 = 1.142857."""
    site = await consent_site(people)
    async with people.resources.engine.begin() as conn:
        await conn.execute(update(sites).where(sites.c.id == site.id).values(timezone="Asia/Tokyo"))
    await pricing_definition(people, cap=20)
    key = await full_key(people)
    keen = [await consented_subject(people, site, f"Keen{i}") for i in range(5)]
    casual = [await consented_subject(people, site, f"Casual{i}") for i in range(5)]
    for subject in keen:
        await visit(people, subject, "/pricing", "/pricing")
    for subject in casual:
        await visit(people, subject, "/")
    tokyo_day = "2026-03-01T15:30:00Z"
    utc_day = "2026-03-01T14:30:00Z"
    posted: list[dict[str, str]] = [
        *(
            {"kind": kind, "subject_id": s.subject_id, "occurred_at": tokyo_day}
            for s, kind in zip(casual, ["deal_won"] * 3 + ["deal_lost"] * 2, strict=True)
        ),
        {"kind": "deal_won", "utm_campaign": "spring", "occurred_at": tokyo_day},
        {"kind": "meeting_booked", "subject_id": keen[0].subject_id, "occurred_at": utc_day},
        {"kind": "deal_won", "utm_campaign": "winter", "occurred_at": utc_day},
        *(
            {"kind": kind, "subject_id": s.subject_id}
            for s, kind in zip(keen, ["meeting_booked"] * 4 + ["deal_lost"], strict=True)
        ),
        {"kind": "deal_won", "subject_id": casual[0].subject_id},
    ]
    for index, body in enumerate(posted):
        response = await people.client.post(
            f"/v1/sites/{site.id}/outcomes", json={"id": f"o{index}", **body}, headers=auth(key)
        )
        assert response.status_code == 201, response.text

    async def report(first: str, last: str) -> dict[str, Any]:
        response = await people.client.post(
            "/v1/reports/outcomes",
            json={"site_id": site.id, "date_range": [first, last]},
            headers=auth(key),
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def campaigns(body: dict[str, Any]) -> list[str]:
        return [c["utm_campaign"] for c in body["campaigns"]]

    march_2 = await report("2026-03-02", "2026-03-02")
    assert (march_2["timezone"], march_2["date_range"]) == ("Asia/Tokyo", ["2026-03-02"] * 2)
    assert (march_2["subjects"], march_2["good_outcomes"], march_2["base_rate"]) == (5, 3, 0.6)
    assert march_2["signals"] == []
    assert march_2["score_bands"][0] == {
        "group": "[0, 5)",
        "subjects": 5,
        "good_outcomes": 3,
        "rate": 0.6,
        "lift": 1.0,
        "suppressed": False,
    }
    assert campaigns(march_2) == ["spring"]

    march_1 = await report("2026-03-01", "2026-03-01")
    assert (march_1["subjects"], march_1["good_outcomes"], march_1["base_rate"]) == (
        None,
        None,
        None,
    )
    assert campaigns(march_1) == ["winter"]

    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    recent = await report((today - timedelta(days=1)).isoformat(), today.isoformat())
    assert (recent["subjects"], recent["good_outcomes"], recent["base_rate"]) == (10, 5, 0.5)
    assert campaigns(recent) == []

    everything = await report("2026-03-01", today.isoformat())
    assert (everything["subjects"], everything["good_outcomes"]) == (10, 7)
    assert everything["base_rate"] == 0.7
    bands = {row["group"]: row for row in everything["score_bands"]}
    assert (bands["[0, 5)"]["rate"], bands["[0, 5)"]["lift"]) == (0.6, 0.857143)
    signals = {row["group"]: row for row in everything["signals"]}
    assert (signals["pricing_twice"]["rate"], signals["pricing_twice"]["lift"]) == (0.8, 1.142857)
    assert campaigns(everything) == ["spring", "winter"]


@pytest.mark.parametrize(
    "date_range",
    [
        None,  # required
        ["2026-03-09", "2026-03-02"],  # reversed
        ["2016-01-01", "2026-03-02"],  # longer than ten years
        ["2026-03-02"],
        ["2026-02-30", "2026-03-02"],
    ],
)
async def test_outcome_report_refuses_a_bad_date_range(
    people: Overt, date_range: list[str] | None
) -> None:
    key = await full_key(people)
    body: dict[str, object] = {"site_id": people.site.id}
    if date_range is not None:
        body["date_range"] = date_range
    response = await people.client.post("/v1/reports/outcomes", json=body, headers=auth(key))
    errors = assert_problem(response, 422, "validation-error")["errors"]
    assert "date_range" in str(errors)
