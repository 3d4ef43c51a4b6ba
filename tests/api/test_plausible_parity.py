"""Plausible Stats API v2 parity on both backends: each metric, dimension and filter Overt
added under Plausible's name, over traffic sent through POST /e and the worker, against
numbers worked out by hand.

`traffic` (tests/helpers/traffic.py, worked out in test_query_engine.py): 17 visitors in
17 sessions, 18 pageviews. A: 6 from Google on /pricing, engaged 12..17 s, a0..a4 with the
goal Signup. B: 6 direct on /, engaged 1..6 s, b0 also on /docs. C: 3 from Bing and D: 2
from DuckDuckGo on /blog, nothing else.

    bounces (at most one pageview, no custom event): a5, b1..b5, C, D = 11 of 17 -> 65 %
    events (not engagement): 18 pageviews + 5 Signup = 23; views per visit 18/17 = 1.06
    visitors per page: /pricing 6, / 6, /blog 5, /docs 1 (of 17: 35.3 35.3 29.4 5.9 %)
    time on page (engaged s per visitor): /pricing 87/6 = 14.5 -> 15, / 21/6 = 3.5 -> 4,
    /blog and /docs 0
    channels: Google, Bing, DuckDuckGo referrers -> Organic Search 11; direct -> Direct 6

`timed` sends four visits whose events carry their own times (within the last hour):

    t1: pageviews at -10 and -7 min           -> 180 s, not a bounce
    t2: one pageview                          ->   0 s, a bounce
    t3: a pageview, an outbound click at +60 s -> 60 s, a bounce (a click the snippet sends
        by itself is no interaction)
    t4: a pageview, the custom event Signup +120 s -> 120 s, not a bounce
    visits 4, bounce rate 2/4 = 50, visit duration 360/4 = 90 s, views per visit 5/4 = 1.25,
    events 5 + 1 + 1 = 7
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from services.api.stats.channels import channel_of, inputs_of
from shared.models import sites
from tests.helpers.overt import Overt
from tests.helpers.problems import assert_problem
from tests.helpers.traffic import agent, ask, rows, traffic, visit

pytestmark = pytest.mark.anyio

PLAUSIBLE_METRICS = [
    "visits",
    "bounce_rate",
    "visit_duration",
    "views_per_visit",
    "events",
]


def minutes_ago(minutes: float) -> int:
    return int((time.time() - minutes * 60) * 1000)


async def timed(overt: Overt) -> None:
    page = "https://example.com/"
    batches: dict[str, list[dict[str, object]]] = {
        "t1": [
            overt.event(u=page, t=minutes_ago(10)),
            overt.event(u="https://example.com/two", t=minutes_ago(7)),
        ],
        "t2": [overt.event(u=page, t=minutes_ago(10))],
        "t3": [
            overt.event(u=page, t=minutes_ago(10)),
            overt.event(n="outbound", u=page, t=minutes_ago(9), p={"url": "https://else.org/"}),
        ],
        "t4": [
            overt.event(u=page, t=minutes_ago(10)),
            overt.event(n="Signup", u=page, t=minutes_ago(8)),
        ],
    }
    for who, batch in batches.items():
        response = await overt.send(batch, **agent(who))
        assert response.status_code == 202, response.text
    await overt.drained()


async def k_off(overt: Overt) -> None:
    await store_definition(
        engine=overt.resources.engine, site_id=overt.site.id, body=DefinitionIn(k=1)
    )


async def test_session_metrics_by_plausible_rules(overt: Overt) -> None:
    await timed(overt)
    assert await rows(overt, metrics=PLAUSIBLE_METRICS) == [[[], [4, 50, 90, 1.25, 7]]]
    # visits are Overt's sessions under Plausible's name
    assert await rows(overt, metrics=["visits", "sessions"]) == [[[], [4, 4]]]


async def test_plausible_metrics_over_the_shared_traffic(overt: Overt) -> None:
    await traffic(overt)
    [[_, values]] = await rows(overt, metrics=[*PLAUSIBLE_METRICS, "percentage"])
    # each visit is one request, its events stamped at its arrival: every duration is 0 s
    assert values == [17, 65, 0, 1.06, 23, 100.0]


async def test_percentage_and_time_on_page_by_page(overt: Overt) -> None:
    await traffic(overt)
    assert await rows(
        overt,
        metrics=["visitors", "percentage", "time_on_page"],
        dimensions=["page"],
        order_by=[{"field": "visitors", "direction": "desc"}],
    ) == [
        [["/"], [6, 35.3, 4]],
        [["/pricing"], [6, 35.3, 15]],
        [["/blog"], [5, 29.4, 0]],
        [["/docs"], [1, 5.9, 0]],
    ]


async def test_event_and_hostname_dimensions_are_answered_whole(overt: Overt) -> None:
    await timed(overt)
    response = await ask(overt, metrics=["visitors", "events"], dimensions=["event"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert [[r["dimensions"], r["metrics"]] for r in body["results"]] == [
        [["pageview"], [4, 5]],
        [["Signup"], [1, 1]],
        [["outbound"], [1, 1]],
    ]
    assert body["meta"]["guarded"] == []  # a 1-visitor row, shown at k = 5
    assert await rows(overt, metrics=["visitors"], dimensions=["hostname"]) == [
        [["example.com"], [4]]
    ]


async def test_channel_groups_referrers_and_campaigns(overt: Overt) -> None:
    await traffic(overt)
    assert await rows(overt, metrics=["visitors"], dimensions=["channel"]) == [
        [["Organic Search"], [11]],
        [["Direct"], [6]],
    ]


CAMPAIGNS = [
    ("utm_source=newsletter&utm_medium=email", "Email"),
    ("utm_source=google&utm_medium=cpc", "Paid Search"),
    ("utm_source=facebook&utm_medium=paid_social", "Paid Social"),
    ("utm_source=partner&utm_medium=affiliate", "Affiliates"),
    ("utm_source=podcast&utm_medium=audio", "Audio"),
    ("utm_source=acme&utm_medium=display", "Display"),
    ("utm_source=whatever", "Unassigned"),
]


async def test_channel_in_sql_is_the_rules_table(overt: Overt) -> None:
    """The SQL the engine groups by agrees with `channel_of` on campaign traffic."""
    await k_off(overt)
    for i, (query, _) in enumerate(CAMPAIGNS):
        await visit(overt, f"c{i}", f"/landing?{query}")
    await visit(overt, "social", "/", referrer="https://www.facebook.com/")
    await overt.drained()
    found = {
        dims[0]: visitors
        for dims, [visitors] in await rows(overt, metrics=["visitors"], dimensions=["channel"])
    }
    expected: dict[str, int] = {}
    for query, channel in CAMPAIGNS:
        params = dict(part.split("=") for part in query.split("&"))
        computed = channel_of(
            inputs_of(
                source=params.get("utm_source"),
                medium="campaign",
                utm_source=params.get("utm_source"),
                utm_medium=params.get("utm_medium"),
                utm_campaign=None,
            )
        )
        assert computed == channel, query
        expected[channel] = expected.get(channel, 0) + 1
    expected["Organic Social"] = 1
    assert found == expected


async def test_negated_text_filters(overt: Overt) -> None:
    await traffic(overt)

    async def visitors(condition: dict[str, Any]) -> int:
        [[_, [count]]] = await rows(overt, metrics=["visitors"], filters=condition)
        return int(count)

    assert await visitors({"dimension": "page", "op": "contains_not", "values": ["BLOG"]}) == 12
    assert await visitors({"dimension": "page", "op": "contains", "values": ["BLOG"]}) == 5
    matches_not = {"dimension": "page", "op": "matches_not", "values": ["^/(pricing|docs)$"]}
    assert await visitors(matches_not) == 11  # b0..b5 on /, C and D on /blog
    bad = await ask(
        overt,
        metrics=["visitors"],
        filters={"dimension": "page", "op": "matches_not", "values": ["(a"]},
    )
    assert_problem(bad, 422, "validation-error")


async def test_behavioural_filters_at_session_level(overt: Overt) -> None:
    await traffic(overt)
    signed_up = {"dimension": "event", "op": "is", "values": ["Signup"]}
    assert await rows(
        overt, metrics=["visitors", "pageviews"], filters={"has_done": signed_up}
    ) == [[[], [5, 5]]]
    assert await rows(
        overt, metrics=["visitors", "pageviews"], filters={"has_not_done": signed_up}
    ) == [[[], [12, 13]]]
    # b0's session: it saw /docs, so its pageview of / counts too
    saw_docs = {"dimension": "page", "op": "is", "values": ["/docs"]}
    assert await rows(overt, metrics=["visitors", "pageviews"], filters={"has_done": saw_docs}) == [
        [[], [1, 2]]
    ]
    # the complement of has_done is has_not_done, under "not" too
    assert await rows(overt, metrics=["visitors"], filters={"not": {"has_done": signed_up}}) == [
        [[], [12]]
    ]


async def test_behavioural_filter_on_a_quasi_identifier_is_held_to_k(overt: Overt) -> None:
    await traffic(overt)
    from_bing = {"dimension": "source", "op": "is", "values": ["Bing"]}
    response = await ask(overt, metrics=["visitors"], filters={"has_done": from_bing})
    assert_problem(response, 422, "k-anonymity")


async def test_typed_prop_values(overt: Overt) -> None:
    await k_off(overt)
    props = {"seats": 3, "ratio": 2.5, "plan": "pro", "trial": True}
    await visit(overt, "p", "/", extra=[overt.event(n="Signup", u="https://example.com/", p=props)])
    await overt.drained()
    for key, text in (("seats", "3"), ("ratio", "2.5"), ("plan", "pro"), ("trial", "true")):
        found = await rows(overt, metrics=["events"], dimensions=[f"prop:{key}"])
        assert sorted(found) == sorted([[[text], [1]], [["(none)"], [1]]]), key


def shifted_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about noon now: local midnight lies 12 h back."""
    hours = 12 - now.hour  # -11..12
    return f"Etc/GMT{-hours:+d}"


async def test_relative_range_and_previous_period(overt: Overt) -> None:
    now = datetime.now(UTC)
    zone = shifted_zone(now)
    async with overt.resources.engine.begin() as conn:
        await conn.execute(update(sites).where(sites.c.id == overt.site.id).values(timezone=zone))
    yesterday_ms = int((now - timedelta(hours=18)).timestamp() * 1000)
    for who in ("y1", "y2"):
        await overt.send([overt.event(u="https://example.com/", t=yesterday_ms)], **agent(who))
    for who in ("n1", "n2", "n3"):
        await visit(overt, who, "/")
    await overt.drained()
    response = await ask(
        overt,
        metrics=["visitors", "bounce_rate"],
        date_range="day",
        comparisons={"mode": "previous_period"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    today = date.fromisoformat(body["meta"]["date_range"][0])
    assert body["meta"]["date_range"] == [today.isoformat()] * 2
    assert body["meta"]["comparison_date_range"] == [(today - timedelta(days=1)).isoformat()] * 2
    assert body["results"] == [
        {
            "dimensions": [],
            "metrics": [3, 100],
            "comparison": {"dimensions": [], "metrics": [2, 100], "change": [50, 0.0]},
        }
    ]
    assert body["query"]["date_range"] == "day"
    week = await ask(overt, metrics=["visitors"], date_range="7d", dimensions=["time:day"])
    assert week.status_code == 200, week.text
    assert [r["metrics"] for r in week.json()["results"]] == [[2], [3]]
    assert week.json()["meta"]["date_range"] == [
        (today - timedelta(days=6)).isoformat(),
        today.isoformat(),
    ]


async def test_comparison_of_a_breakdown_matches_rows(overt: Overt) -> None:
    await traffic(overt)
    yesterday, today = (datetime.now(UTC).date() - timedelta(days=d) for d in (1, 0))
    response = await ask(
        overt,
        metrics=["visitors"],
        dimensions=["page"],
        date_range=[today.isoformat(), today.isoformat()],
        comparisons={"mode": "custom", "date_range": [yesterday.isoformat()] * 2},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    for row in body["results"]:  # nothing yesterday: every count from 0, +100 %
        assert row["comparison"] == {
            "dimensions": row["dimensions"],
            "metrics": [0],
            "change": [100],
        }
    assert len(body["results"]) == 4


async def test_bad_relative_ranges_and_comparisons_are_refused(overt: Overt) -> None:
    for body in (
        {"metrics": ["visitors"], "date_range": "3d"},
        {"metrics": ["visitors"], "comparisons": {"mode": "custom"}},
        {"metrics": ["visitors"], "comparisons": {"mode": "previous_period", "date_range": []}},
        {"metrics": ["visitors"], "comparisons": {"mode": "yesterday"}},
    ):
        assert_problem(await ask(overt, **body), 422, "validation-error")


CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{}.0.6099.71 Safari/537.36"
)


async def test_browser_and_os_versions_are_quasi_identifiers(overt: Overt) -> None:
    for i, major in enumerate((120, 120, 121)):
        response = await overt.send(
            overt.event(u=f"https://example.com/{i}"), **{"user-agent": CHROME.format(major)}
        )
        assert response.status_code == 202, response.text
    await overt.drained()
    folded = await ask(overt, metrics=["visitors"], dimensions=["browser_version"])
    assert folded.status_code == 200, folded.text
    assert folded.json()["meta"]["guarded"] == ["browser_version"]
    assert folded.json()["results"] == []  # 3 bare hits: fewer than k = 5, left out
    await k_off(overt)
    # one address and User-Agent: one visitor; Chrome 120 viewed two pages
    both = ["visitors", "pageviews"]
    assert await rows(overt, metrics=both, dimensions=["browser_version"]) == [
        [["120.0"], [1, 2]],
        [["121.0"], [1, 1]],
    ]
    assert await rows(overt, metrics=both, dimensions=["os_version"]) == [[["10"], [2, 3]]]
