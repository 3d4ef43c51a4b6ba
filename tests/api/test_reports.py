"""Reports on both backends: after the click, funnels, retention; and key isolation for
every query and report endpoint. Expected numbers are worked out by hand."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from services.api.keys.service import create_key, revoke_key
from services.api.stats import reports
from shared.keys import KeyScope
from shared.models import events, sessions
from shared.sites import create_site
from tests.helpers.isolation import GOOGLE_ONLY, REPORT_ENDPOINTS
from tests.helpers.overt import Overt
from tests.helpers.people import full_key
from tests.helpers.problems import assert_problem
from tests.helpers.traffic import BING, GOOGLE, agent, days, traffic

pytestmark = pytest.mark.anyio


async def post(overt: Overt, path: str, key: str | None = None, **body: Any) -> httpx.Response:
    return await overt.client.post(
        f"/v1/reports/{path}",
        json={"site_id": overt.site.id, "date_range": days(), **body},
        headers={"authorization": f"Bearer {key or overt.key}"},
    )


async def test_after_the_click_per_source(overt: Overt) -> None:
    await traffic(overt)  # see tests/api/test_query_engine.py for what it sends
    response = await post(overt, "after-the-click")
    assert response.status_code == 200, response.text
    body = response.json()
    fields = [
        "value",
        "visitors",
        "sessions",
        "engagement_rate",
        "engaged_time_p50",
        "engaged_time_total",
        "conversions",
        "conversion_rate",
        "returning_visitors",
        "outcomes",
    ]
    assert [[row[f] for f in fields] for row in body["rows"]] == [
        # B: engaged 1..6 s (p50 = 3rd of 6), b0 engaged by its two pages.
        ["Direct", 6, 6, round(1 / 6, 4), 3000, 21_000, 0, 0.0, 0, None],
        # A: 12..17 s, all engaged, 5 of 6 reached Signup.
        ["Google", 6, 6, 1.0, 14_000, 87_000, 5, round(5 / 6, 4), 0, None],
        # Bing (3) + DuckDuckGo (2) fold; their 5 visitors are bare hits, none of which
        # counts toward k, so the (other) row is left out too.
    ]
    assert (body["by"], body["definition_version"], body["k"]) == ("source", 0, 5)
    assert "2 groups smaller than 5 are left out" in " ".join(body["notes"])


@pytest.fixture
def outcome_provider() -> Iterator[None]:
    async def meetings(
        engine: AsyncEngine, site_id: str, by: str, date_range: tuple[date, date]
    ) -> dict[str, Any]:
        return {"Google": {"meetings_booked": 2.0}} if by == "source" else {}

    reports.OUTCOME_PROVIDERS.append(meetings)
    yield
    reports.OUTCOME_PROVIDERS.remove(meetings)


@pytest.mark.usefixtures("outcome_provider")
async def test_after_the_click_attaches_outcomes_from_a_provider(overt: Overt) -> None:
    await traffic(overt)
    body = (await post(overt, "after-the-click")).json()
    assert {row["value"]: row["outcomes"] for row in body["rows"]} == {
        "Direct": None,
        "Google": {"meetings_booked": 2.0},
    }


async def test_after_the_click_by_campaign_carries_the_campaigns_reported_outcomes(
    overt: Overt,
) -> None:
    """s0..s5 land from the newsletter campaign spring, t0..t4 from autumn, u0 and u1 from
    tiny (2 < k: folded, and the (other) row of 2 is left out); each stays 2 s (engaged
    time, so that they count toward k). The site reports for spring
    a deal won for 100 EUR, revenue of 50.50 EUR and a deal won without amount; for tiny a
    deal won; for autumn a meeting booked three days ago, outside the range. By campaign,
    spring carries its three, autumn none, tiny's appear nowhere; by utm_source, news (all
    13 visitors) carries the four in range; by source no campaign matches."""
    for prefix, campaign, count in (("s", "spring", 6), ("t", "autumn", 5), ("u", "tiny", 2)):
        landing = f"https://example.com/?utm_source=news&utm_campaign={campaign}"
        for i in range(count):
            pageview = overt.event(u=landing)
            stay = overt.event(n="engagement", u=landing, v=pageview["i"], e=2000)
            sent = await overt.send([pageview, stay], **agent(f"{prefix}{i}"))
            assert sent.status_code == 202, sent.text
    await overt.drained()
    key = await full_key(overt)
    three_days_ago = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    news = {"utm_source": "news"}
    reported: list[dict[str, Any]] = [
        {**news, "utm_campaign": "spring", "kind": "deal_won", "amount": "100", "currency": "EUR"},
        {**news, "utm_campaign": "spring", "kind": "revenue", "amount": "50.50", "currency": "EUR"},
        {**news, "utm_campaign": "spring", "kind": "deal_won"},
        {**news, "utm_campaign": "tiny", "kind": "deal_won"},
        {**news, "utm_campaign": "autumn", "kind": "meeting_booked", "occurred_at": three_days_ago},
    ]
    for index, outcome in enumerate(reported):
        response = await overt.client.post(
            f"/v1/sites/{overt.site.id}/outcomes",
            json={"id": f"o{index}", **outcome},
            headers={"authorization": f"Bearer {key}"},
        )
        assert response.status_code == 201, response.text

    async def outcomes_by(by: str) -> dict[str, Any]:
        response = await post(overt, "after-the-click", by=by)
        assert response.status_code == 200, response.text
        return {row["value"]: (row["visitors"], row["outcomes"]) for row in response.json()["rows"]}

    assert await outcomes_by("utm_campaign") == {
        "spring": (6, {"deal_won": 2.0, "revenue": 1.0, "revenue:EUR": 150.5}),
        "autumn": (5, None),
    }
    assert await outcomes_by("utm_source") == {
        "news": (13, {"deal_won": 3.0, "revenue": 1.0, "revenue:EUR": 150.5}),
    }
    assert await outcomes_by("source") == {"news": (13, None)}


async def funnel_traffic(overt: Overt) -> None:
    """p0..p4: / then /pricing then Signup. q0, q1: /pricing then / (the other order)."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)

    def at(path: str, minutes_ago: int, name: str = "pageview") -> dict[str, object]:
        return overt.event(n=name, u=f"https://example.com{path}", t=now_ms - minutes_ago * 60_000)

    for i in range(5):
        batch = [at("/", 10), at("/pricing", 9), at("/pricing", 8, "Signup")]
        assert (await overt.send(batch, **agent(f"p{i}"))).status_code == 202
    for i in range(2):
        batch = [at("/pricing", 10), at("/", 9)]
        assert (await overt.send(batch, **agent(f"q{i}"))).status_code == 202
    await overt.drained()


async def test_funnel_counts_steps_in_order_small_ones_too(overt: Overt) -> None:
    await funnel_traffic(overt)
    response = await post(
        overt, "funnel", steps=[{"page": "/"}, {"page": "/pric*"}, {"goal": "Signup"}]
    )
    assert response.status_code == 200, response.text
    assert response.json()["steps"] == [
        {
            "step": "page /",
            "sessions": 7,
            "visitors": 7,
            "drop_off": None,
            "conversion_from_start": 1.0,
            "suppressed": False,
        },
        {  # q0 and q1 saw /pricing before /, so they drop out here
            "step": "page /pric*",
            "sessions": 5,
            "visitors": 5,
            "drop_off": 2,
            "conversion_from_start": round(5 / 7, 4),
            "suppressed": False,
        },
        {
            "step": "goal Signup",
            "sessions": 5,
            "visitors": 5,
            "drop_off": 0,
            "conversion_from_start": round(5 / 7, 4),
            "suppressed": False,
        },
    ]
    reverse = (await post(overt, "funnel", steps=[{"page": "/pricing"}, {"page": "/"}])).json()
    # Only q0 and q1 did /pricing then /: 2 visitors < k, counted all the same (steps are
    # pages and goals, which single no one out).
    assert reverse["steps"][1] == {
        "step": "page /",
        "sessions": 2,
        "visitors": 2,
        "drop_off": 5,
        "conversion_from_start": round(2 / 7, 4),
        "suppressed": False,
    }
    assert reverse["steps"][0]["sessions"] == 7


async def sourced_funnel_traffic(overt: Overt) -> None:
    """g0..g5 from Google and n0..n5 direct: / then /pricing; g0..g4 and n0, n1 then Signup.
    b0..b2 from Bing: / only."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)

    def at(path: str, minutes_ago: int, **extra: object) -> dict[str, object]:
        return overt.event(u=f"https://example.com{path}", t=now_ms - minutes_ago * 60_000, **extra)

    def journey(referrer: str | None, signup: bool) -> list[dict[str, object]]:
        batch = [at("/", 10, r=referrer), at("/pricing", 9)]
        return batch + ([at("/pricing", 8, n="Signup")] if signup else [])

    for i in range(6):
        assert (await overt.send(journey(GOOGLE, i < 5), **agent(f"g{i}"))).status_code == 202
        assert (await overt.send(journey(None, i < 2), **agent(f"n{i}"))).status_code == 202
    for i in range(3):
        assert (await overt.send([at("/", 10, r=BING)], **agent(f"b{i}"))).status_code == 202
    await overt.drained()


FUNNEL_STEPS = [{"page": "/"}, {"page": "/pric*"}, {"goal": "Signup"}]


def step_counts(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (s["sessions"], s["visitors"], s["drop_off"], s["conversion_from_start"], s["suppressed"])
        for s in body["steps"]
    ]


async def test_funnel_takes_the_query_filter_tree(overt: Overt) -> None:
    await sourced_funnel_traffic(overt)
    everyone = await post(overt, "funnel", steps=FUNNEL_STEPS)
    assert everyone.status_code == 200, everyone.text
    # 15 sessions start; the 3 from Bing stop at /; 5 + 2 sign up.
    assert step_counts(everyone.json()) == [
        (15, 15, None, 1.0, False),
        (12, 12, 3, 0.8, False),
        (7, 7, 5, round(7 / 15, 4), False),
    ]
    google = await post(overt, "funnel", steps=FUNNEL_STEPS, filters=GOOGLE_ONLY)
    assert google.status_code == 200, google.text
    assert step_counts(google.json()) == [
        (6, 6, None, 1.0, False),
        (6, 6, 0, 1.0, False),
        (5, 5, 1, round(5 / 6, 4), False),
    ]
    # Everyone but Google: 6 direct + 3 Bing start, 6 reach /pricing, only n0 and n1 sign
    # up (2 < k, a goal step: counted).
    others = await post(overt, "funnel", steps=FUNNEL_STEPS, filters={"not": GOOGLE_ONLY})
    assert others.status_code == 200, others.text
    assert step_counts(others.json()) == [
        (9, 9, None, 1.0, False),
        (6, 6, 3, round(6 / 9, 4), False),
        (2, 2, 4, round(2 / 9, 4), False),
    ]
    # Filters test each step's events, as in /v1/query: a filter on the page of the first
    # step leaves the later steps nothing to count.
    home = {"dimension": "page", "op": "is", "values": ["/"]}
    only_home = (await post(overt, "funnel", steps=FUNNEL_STEPS, filters=home)).json()
    assert [s["sessions"] for s in only_home["steps"]] == [15, 0, 0]


async def test_funnel_filters_isolating_fewer_than_k_are_refused(overt: Overt) -> None:
    """Bing's 3 visitors: a funnel of them alone, or of everyone but them (the difference
    with the unfiltered funnel), would show what they did."""
    await sourced_funnel_traffic(overt)
    bing = {"dimension": "source", "op": "is", "values": ["Bing"]}
    selected = await post(overt, "funnel", steps=FUNNEL_STEPS, filters=bing)
    assert "select fewer than k" in str(assert_problem(selected, 422, "k-anonymity")["detail"])
    assert '"steps"' not in selected.text
    for complement in (
        {"not": bing},
        {"dimension": "source", "op": "is_not", "values": ["Bing"]},
        {"dimension": "source", "op": "is", "values": ["Google", "Direct"]},
    ):
        refused = await post(overt, "funnel", steps=FUNNEL_STEPS, filters=complement)
        assert "leave out" in str(assert_problem(refused, 422, "k-anonymity")["detail"])


async def test_funnel_date_range_is_in_the_site_time_zone(overt: Overt) -> None:
    """A Tokyo site with k = 2; events stored directly (the collector only takes times from
    the last day). Tokyo is UTC+9: s1 (/ at 03-01 00:30 local, then /pricing) and s3 (23:30
    local, then /pricing) are on 03-01; s2 (02-28 23:50 local) and s4 (03-02 00:10 local, no
    /pricing) are not. Read in UTC, 03-01 would hold s3 and s4 instead: 2 then 1."""
    engine = overt.resources.engine
    tokyo = await create_site(engine=engine, domain="tokyo.example", timezone="Asia/Tokyo")
    _, key = await create_key(engine=engine, site_id=tokyo.id, scopes=[KeyScope.stats_read])
    await store_definition(engine=engine, site_id=tokyo.id, body=DefinitionIn(k=2))

    def pageviews(visitor: int, first: datetime, paths: list[str]) -> list[dict[str, Any]]:
        session = uuid.uuid4()
        return [
            {
                "event_id": uuid.uuid4(),
                "site_id": tokyo.id,
                "occurred_at": first + timedelta(minutes=5 * index),
                "name": "pageview",
                "visitor_hash": visitor,
                "host": "tokyo.example",
                "path": path,
                "session_id": session,
            }
            for index, path in enumerate(paths)
        ]

    rows = [
        *pageviews(1, datetime(2026, 2, 28, 15, 30, tzinfo=UTC), ["/", "/pricing"]),
        *pageviews(2, datetime(2026, 2, 28, 14, 50, tzinfo=UTC), ["/", "/pricing"]),
        *pageviews(3, datetime(2026, 3, 1, 14, 30, tzinfo=UTC), ["/", "/pricing"]),
        *pageviews(4, datetime(2026, 3, 1, 15, 10, tzinfo=UTC), ["/"]),
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(events), rows)
    response = await overt.client.post(
        "/v1/reports/funnel",
        json={
            "site_id": tokyo.id,
            "date_range": ["2026-03-01", "2026-03-01"],
            "steps": [{"page": "/"}, {"page": "/pricing"}],
        },
        headers={"authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    assert [(s["sessions"], s["visitors"]) for s in response.json()["steps"]] == [(2, 2), (2, 2)]


async def test_retention_weekly_cohorts_of_tier_one_visitors(overt: Overt) -> None:
    """Sessions are stored directly: the collector only accepts times from the last day,
    and cohorts need weeks. Cohort of 2026-03-02: 6 ids; 5 back the next week, 2 the one
    after. 3 ids new on 03-11 make a cohort of their own. Cohorts are weeks, not attributes
    that single a person out: small ones are answered. One id first seen in February
    belongs to an earlier cohort, outside the range."""
    monday = datetime(2026, 3, 2, 12, tzinfo=UTC)

    def session(analytics_id: str, day: int) -> dict[str, Any]:
        at = monday + timedelta(days=day)
        return {
            "session_id": uuid.uuid4(),
            "site_id": overt.site.id,
            "visitor_hash": hash((analytics_id, day)) & 0x7FFFFFFF,
            "started_at": at,
            "last_seen_at": at,
            "entry_path": "/",
            "exit_path": "/",
            "analytics_id": analytics_id,
        }

    rows = [session(f"w0-{i}", 1) for i in range(6)]
    rows += [session(f"w0-{i}", 8) for i in range(5)]
    rows += [session(f"w0-{i}", 15) for i in range(2)]
    rows += [session(f"w1-{i}", 9) for i in range(3)]
    rows += [session("early", -12), session("early", 2)]
    rows += [{**session("none", 1), "analytics_id": None}]  # tier 0: never in a cohort
    async with overt.resources.engine.begin() as conn:
        await conn.execute(insert(sessions), rows)
    response = await post(overt, "retention", date_range=["2026-03-02", "2026-03-22"])
    assert response.status_code == 200, response.text
    assert response.json()["cohorts"] == [
        {"week": "2026-03-02", "visitors": 6, "returned": [6, 5, 2]},
        {"week": "2026-03-09", "visitors": 3, "returned": [3]},
    ]


@pytest.mark.parametrize(("path", "extra"), REPORT_ENDPOINTS)
async def test_every_endpoint_refuses_other_sites_revoked_keys_and_missing_scopes(
    overt: Overt, path: str, extra: dict[str, Any]
) -> None:
    await traffic(overt)
    body = {"site_id": overt.site.id, "date_range": days(), **extra}

    async def call(key: str | None) -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return await overt.client.post(path, json=body, headers=headers)

    assert (await call(overt.key)).status_code == 200
    engine = overt.resources.engine
    other = await create_site(engine=engine, domain="other.example")
    _, stranger = await create_key(engine=engine, site_id=other.id, scopes=[KeyScope.stats_read])
    refused = assert_problem(await call(stranger), 403, "wrong-site")
    assert "Google" not in str(refused)
    _, no_scope = await create_key(
        engine=engine, site_id=overt.site.id, scopes=[KeyScope.contacts_read]
    )
    assert_problem(await call(no_scope), 403, "missing-scope")
    key, revoked = await create_key(
        engine=engine, site_id=overt.site.id, scopes=[KeyScope.stats_read]
    )
    assert await revoke_key(engine=engine, key_id=key.id)
    assert_problem(await call(revoked), 401, "invalid-api-key")
    assert_problem(await call(None), 401, "api-key-required")


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"dimension": "page", "op": "is", "values": ["/"]}
    for _ in range(depth - 1):
        node = {"not": node}
    return node


DEEP_FILTER = nested(8)  # deeper than the 6 levels a query may nest


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("funnel", {"steps": [{"page": "/"}]}),
        ("funnel", {"steps": [{"page": "/", "goal": "x"}, {"goal": "y"}]}),
        ("funnel", {"steps": [{"page": "pricing"}, {"goal": "y"}]}),
        ("after-the-click", {"by": "country"}),
        ("retention", {"date_range": ["2026-03-09", "2026-03-02"]}),
        ("funnel", {"steps": FUNNEL_STEPS, "date_range": ["2026-03-09", "2026-03-02"]}),
        ("funnel", {"steps": FUNNEL_STEPS, "date_range": ["2010-01-01", "2026-03-02"]}),
        ("funnel", {"steps": FUNNEL_STEPS, "filters": {"dimension": "time:day", "op": "is"}}),
        ("funnel", {"steps": FUNNEL_STEPS, "filters": {"and": []}}),
        ("funnel", {"steps": FUNNEL_STEPS, "filters": DEEP_FILTER}),
        ("after-the-click", {"filters": DEEP_FILTER}),
        ("after-the-click", {"filters": {"dimension": "page", "op": "matches", "values": ["("]}}),
    ],
)
async def test_malformed_reports_are_422(overt: Overt, path: str, body: dict[str, Any]) -> None:
    assert assert_problem(await post(overt, path, **body), 422, "validation-error")["errors"]
