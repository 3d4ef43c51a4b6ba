"""POST /v1/query on both backends: counts from the real ingest path, and key isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from services.api.days import day_bounds
from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from services.api.keys.service import create_key, revoke_key
from shared.keys import KeyScope
from shared.models import daily_dirty, events
from shared.sites import create_site
from tests.helpers.overt import Overt
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio
K2 = DefinitionIn(k=2)


async def site_with_pageviews(
    overt: Overt, domain: str, timezone: str, pageviews: list[tuple[datetime, int]]
) -> tuple[str, str]:
    """A site in `timezone` with k=2 and pageviews (instant, visitor hash) stored directly
    (the collector clamps client times to the last day; these tests need fixed instants),
    their UTC days marked for the daily rollups as the worker marks them."""
    site = await create_site(engine=overt.resources.engine, domain=domain, timezone=timezone)
    _, key = await create_key(
        engine=overt.resources.engine, site_id=site.id, scopes=[KeyScope.stats_read]
    )
    await store_definition(engine=overt.resources.engine, site_id=site.id, body=K2)
    async with overt.resources.engine.begin() as conn:
        await conn.execute(
            insert(events),
            [
                {
                    "event_id": uuid.uuid4(),
                    "site_id": site.id,
                    "occurred_at": at,
                    "name": "pageview",
                    "visitor_hash": visitor,
                    "host": domain,
                    "path": "/",
                    "referrer": None,
                }
                for at, visitor in pageviews
            ],
        )
        days = sorted({at.date() for at, _ in pageviews})
        await conn.execute(
            insert(daily_dirty), [{"site_id": site.id, "day": d, "generation": 1} for d in days]
        )
    return site.id, key


async def test_counts_visitors_and_pageviews(overt: Overt) -> None:
    # Two visitors are under the default k of 5; the smallest k a site may choose is 2.
    await store_definition(engine=overt.resources.engine, site_id=overt.site.id, body=K2)
    alice = {"user-agent": "Alice/1.0"}
    bob = {"user-agent": "Bob/1.0"}
    for path in ("/", "/pricing", "/docs"):
        assert (
            await overt.send(overt.event(u=f"https://example.com{path}"), **alice)
        ).status_code == 202
    assert (await overt.send(overt.event(), **bob)).status_code == 202
    assert (await overt.send(overt.event(n="Signup"), **bob)).status_code == 202

    response = await overt.query()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["results"] == [{"metrics": [2, 4], "dimensions": []}]  # 2 visitors, 4 pageviews
    assert body["meta"]["timezone"] == "UTC"
    assert body["meta"]["definition_version"] == 1
    assert body["query"]["metrics"] == ["visitors", "pageviews"]


async def test_date_range_is_inclusive_and_in_the_site_time_zone(overt: Overt) -> None:
    # 2026-03-01 00:30 in Tokyo is 2026-02-28 15:30 UTC; 23:30 Tokyo on 03-01 is 14:30 UTC.
    moments = [
        datetime(2026, 2, 28, 14, 59, tzinfo=UTC),  # 02-28 23:59 Tokyo: outside
        datetime(2026, 2, 28, 15, 30, tzinfo=UTC),  # 03-01 00:30 Tokyo: inside
        datetime(2026, 3, 1, 14, 30, tzinfo=UTC),  # 03-01 23:30 Tokyo: inside
        datetime(2026, 3, 1, 15, 0, tzinfo=UTC),  # 03-02 00:00 Tokyo: outside
    ]
    tokyo_id, key = await site_with_pageviews(
        overt, "tokyo.example", "Asia/Tokyo", [(at, index) for index, at in enumerate(moments)]
    )
    response = await overt.query(site_id=tokyo_id, key=key, date_range=("2026-03-01", "2026-03-01"))
    assert response.json()["results"][0]["metrics"] == [2, 2]
    response = await overt.query(site_id=tokyo_id, key=key, date_range=("2026-02-28", "2026-03-02"))
    assert response.json()["results"][0]["metrics"] == [4, 4]


def test_day_bounds_follow_daylight_saving() -> None:
    start, end = day_bounds(
        datetime(2026, 3, 29).date(), datetime(2026, 3, 29).date(), "Europe/Berlin"
    )
    assert end - start == timedelta(hours=23)  # the spring-forward day is 23 hours long


async def test_key_of_site_a_cannot_read_site_b(overt: Overt) -> None:
    other = await create_site(engine=overt.resources.engine, domain="other.example")
    await overt.send(overt.event())
    response = await overt.query(site_id=other.id)
    body = assert_problem(response, 403, "wrong-site")
    assert "metrics" not in str(body)
    # The same answer for a site that does not exist: nothing to learn from the refusal.
    assert_problem(await overt.query(site_id="nosuchsite"), 403, "wrong-site")


async def test_missing_invalid_and_revoked_keys_are_401(overt: Overt) -> None:
    today = datetime.now(UTC).date().isoformat()
    body = {"site_id": overt.site.id, "metrics": ["visitors"], "date_range": [today, today]}
    response = await overt.client.post("/v1/query", json=body)
    assert_problem(response, 401, "api-key-required")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_problem(await overt.query(key="ovt_nope_nope"), 401, "invalid-api-key")
    key, secret = await create_key(
        engine=overt.resources.engine, site_id=overt.site.id, scopes=[KeyScope.stats_read]
    )
    assert (await overt.query(key=secret)).status_code == 200
    assert await revoke_key(engine=overt.resources.engine, key_id=key.id)
    assert_problem(await overt.query(key=secret), 401, "invalid-api-key")


async def test_key_without_stats_scope_is_403(overt: Overt) -> None:
    _, secret = await create_key(
        engine=overt.resources.engine, site_id=overt.site.id, scopes=[KeyScope.outcomes_write]
    )
    assert_problem(await overt.query(key=secret), 403, "missing-scope")


@pytest.mark.parametrize(
    "body",
    [
        {"metrics": ["visitors"], "date_range": ["2026-01-01", "2026-01-02"]},
        {"site_id": "x", "metrics": ["bounce"], "date_range": ["2026-01-01", "2026-01-02"]},
        {"site_id": "x", "metrics": [], "date_range": ["2026-01-01", "2026-01-02"]},
        {"site_id": "x", "metrics": ["visitors"], "date_range": ["2026-01-05", "2026-01-02"]},
        {"site_id": "x", "metrics": ["visitors"], "date_range": ["yesterday", "2026-01-02"]},
    ],
)
async def test_malformed_query_is_422(overt: Overt, body: dict[str, object]) -> None:
    response = await overt.client.post(
        "/v1/query", json=body, headers={"authorization": f"Bearer {overt.key}"}
    )
    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"]


async def test_stored_keys_are_hashed(overt: Overt) -> None:
    from sqlalchemy import select

    from shared.models import api_keys

    async with overt.resources.engine.connect() as conn:
        stored = (await conn.execute(select(api_keys.c.key_hash))).scalars().all()
    assert stored
    assert all(overt.key not in value for value in stored)
    assert all(len(value) == 64 for value in stored)


async def test_time_buckets_are_local_across_daylight_saving(overt: Overt) -> None:
    moments = [
        datetime(2026, 3, 28, 23, 30, tzinfo=UTC),  # 03-29 00:30 CET (+1)
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # 03-29 03:30 CEST (+2): clocks went forward
        datetime(2026, 3, 31, 22, 30, tzinfo=UTC),  # 04-01 00:30 CEST: next month, same week
    ]
    berlin_id, key = await site_with_pageviews(
        overt,
        "berlin.example",
        "Europe/Berlin",
        [(at, 10 * index + visitor) for index, at in enumerate(moments) for visitor in range(2)],
    )

    async def buckets(unit: str) -> list[tuple[str, int]]:
        response = await overt.client.post(
            "/v1/query",
            json={
                "site_id": berlin_id,
                "metrics": ["visitors"],
                "dimensions": [f"time:{unit}"],
                "date_range": ["2026-03-29", "2026-04-01"],
            },
            headers={"authorization": f"Bearer {key}"},
        )
        assert response.status_code == 200, response.text
        return [(row["dimensions"][0], row["metrics"][0]) for row in response.json()["results"]]

    assert await buckets("hour") == [
        ("2026-03-29T00:00", 2),
        ("2026-03-29T03:00", 2),
        ("2026-04-01T00:00", 2),
    ]
    assert await buckets("day") == [("2026-03-29", 4), ("2026-04-01", 2)]
    assert await buckets("week") == [("2026-03-23", 4), ("2026-03-30", 2)]
    assert await buckets("month") == [("2026-03", 4), ("2026-04", 2)]
