"""The query engine on both backends, over traffic sent through POST /e and the worker.

Every expected number below is worked out by hand from what `traffic` sends.

    A: 6 visitors from Google, land on /pricing, engaged 12..17 s, scroll 40..90 %;
       a0..a4 also reach the goal Signup (props plan=pro) on /pricing.
    B: 6 direct visitors on /, engaged 1..6 s, scroll 10..60 %; b0 also views /docs.
    C: 3 visitors from Bing on /blog.   D: 2 visitors from DuckDuckGo on /blog.

    17 visitors, 17 sessions, 18 pageviews. Engaged (>= 10 s, or 2 pages, or a goal):
    A (6) and b0 = 7. Engaged time per session, sorted: 0 x5, 1..6 s, 12..17 s;
    nearest-rank p50 = 9th of 17 = 4 s, p90 = 16th = 16 s, total 108 s. Scroll (12
    sessions with any): 10 20 30 40 40 50 50 60 60 70 80 90, p50 = 6th = 50.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from tests.helpers.overt import Overt
from tests.helpers.problems import assert_problem
from tests.helpers.traffic import agent, ask, rows, traffic

pytestmark = pytest.mark.anyio


async def test_every_metric_over_the_whole_range(overt: Overt) -> None:
    await traffic(overt)
    metrics = [
        "visitors",
        "sessions",
        "pageviews",
        "engaged_sessions",
        "engagement_rate",
        "engaged_time_p50",
        "engaged_time_p90",
        "engaged_time_total",
        "scroll_depth_p50",
        "conversions",
        "conversion_rate",
        "returning_visitors",
    ]
    response = await ask(overt, metrics=metrics)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["results"] == [
        {
            "dimensions": [],
            "metrics": [
                17,
                17,
                18,
                7,
                round(7 / 17, 4),
                4000,
                16000,
                108_000,
                50,
                5,
                round(5 / 17, 4),
                0,
            ],
        }
    ]
    assert body["meta"]["definition_version"] == 0
    assert body["meta"]["k"] == 5


async def test_breakdowns_fold_small_groups_of_quasi_identifiers_only(overt: Overt) -> None:
    await traffic(overt)
    response = await ask(
        overt, metrics=["visitors", "engaged_sessions", "engagement_rate"], dimensions=["source"]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    got = [[row["dimensions"], row["metrics"]] for row in body["results"]]
    # Bing (3) and DuckDuckGo (2) are each under k=5 and fold. Their 5 visitors are bare
    # hits (one pageview, no engaged time), none of which counts toward k: the (other) row
    # is left out too.
    assert got == [
        [["Direct"], [6, 1, round(1 / 6, 4)]],
        [["Google"], [6, 6, 1.0]],
    ]
    assert body["meta"]["folded_groups"] == 2
    assert body["meta"]["suppressed"] is True
    assert body["meta"]["guarded"] == ["source"]
    assert body["meta"]["notes"][0] == (
        "2 groups smaller than 5 are left out: even together they are fewer than 5 visitors"
    )

    # Pages single no one out: /docs (b0 alone) is shown, nothing folds.
    response = await ask(overt, metrics=["visitors", "pageviews"], dimensions=["page"])
    body = response.json()
    assert [[row["dimensions"], row["metrics"]] for row in body["results"]] == [
        [["/"], [6, 6]],
        [["/pricing"], [6, 6]],
        [["/blog"], [5, 5]],
        [["/docs"], [1, 1]],
    ]
    assert (body["meta"]["suppressed"], body["meta"]["notes"]) == (False, [])

    assert await rows(overt, metrics=["visitors", "sessions"], dimensions=["entry_page"]) == [
        [["/"], [6, 6]],
        [["/pricing"], [6, 6]],
        [["/blog"], [5, 5]],
    ]
    assert await rows(overt, metrics=["visitors", "conversions"], dimensions=["goal"]) == [
        [["Signup"], [5, 5]]
    ]
    assert await rows(overt, metrics=["conversion_rate"], dimensions=["goal"]) == [
        [["Signup"], [round(5 / 17, 4)]]
    ]
    assert await rows(overt, metrics=["visitors"], dimensions=["prop:plan"]) == [
        [["(none)"], [17]],
        [["pro"], [5]],
    ]
    today = datetime.now(UTC).date().isoformat()
    assert await rows(overt, metrics=["visitors"], dimensions=["time:day"]) == [[[today], [17]]]


async def test_order_and_pagination(overt: Overt) -> None:
    await traffic(overt)
    by_name = await rows(
        overt,
        metrics=["visitors"],
        dimensions=["page"],
        order_by=[{"field": "page", "direction": "asc"}],
    )
    assert [dims for dims, _ in by_name] == [["/"], ["/blog"], ["/docs"], ["/pricing"]]
    response = await ask(
        overt,
        metrics=["visitors"],
        dimensions=["page"],
        limit=1,
        offset=1,
        order_by=[
            {"field": "visitors", "direction": "asc"},
            {"field": "page", "direction": "desc"},
        ],
    )
    body = response.json()
    # /docs 1, /blog 5, then / and /pricing (6 each) by page, descending.
    assert [row["dimensions"] for row in body["results"]] == [["/blog"]]
    assert body["meta"]["total_rows"] == 4


async def test_filter_tree(overt: Overt) -> None:
    await traffic(overt)

    async def visitors(filters: dict[str, Any]) -> int:
        [[_, [count]]] = await rows(overt, metrics=["visitors"], filters=filters)
        return int(count)

    google = {"dimension": "source", "op": "is", "values": ["Google"]}
    assert await visitors(google) == 6
    assert await visitors({"dimension": "page", "op": "contains", "values": ["PRIC"]}) == 6
    assert (
        await visitors({"dimension": "page", "op": "matches", "values": ["^/(pricing|blog)$"]})
        == 11
    )
    assert await visitors({"dimension": "prop:plan", "op": "is", "values": ["pro"]}) == 5
    assert await visitors({"dimension": "goal", "op": "is", "values": ["Signup"]}) == 5
    assert await visitors({"dimension": "goal", "op": "is", "values": ["pageview"]}) == 0
    # Google or /blog: leaves out B, six visitors with engaged time (Google or / would leave
    # out only the bare hits of C and D, which do not count toward k: refused).
    either = {"or": [google, {"dimension": "entry_page", "op": "is", "values": ["/blog"]}]}
    assert await visitors(either) == 11
    not_google = {
        "and": [{"not": google}, {"dimension": "page", "op": "is_not", "values": ["/blog"]}]
    }
    assert await visitors(not_google) == 6  # B only: /docs and / both pass


async def test_filters_isolating_fewer_than_k_are_refused(overt: Overt) -> None:
    await traffic(overt)
    bing = {"dimension": "source", "op": "is", "values": ["Bing"]}
    response = await ask(overt, metrics=["visitors"], filters=bing)
    problem = assert_problem(response, 422, "k-anonymity")
    assert "fewer than k visitors" in str(problem["detail"])
    assert '"metrics"' not in response.text


async def test_differencing_two_filters_reveals_nothing_below_k(overt: Overt) -> None:
    """b0 alone viewed /docs. The page breakdown shows /docs anyway (pages single no one
    out), so page filters are answered; but beside a breakdown by a quasi-identifier, if
    'page is not /docs' answered Direct 5 where the unfiltered answer says 6, the difference
    would tell where b0 came from. The engine refuses that, in every spelling of the
    complement."""
    await traffic(overt)
    [[_, [everyone]]] = await rows(overt, metrics=["pageviews"])
    assert everyone == 18
    docs = {"dimension": "page", "op": "is", "values": ["/docs"]}
    assert await rows(overt, metrics=["pageviews"], filters=docs) == [[[], [1]]]
    for complement in (
        {"dimension": "page", "op": "is_not", "values": ["/docs"]},
        {"not": docs},
        {"dimension": "page", "op": "matches", "values": ["^/(pricing|blog|)$"]},
    ):
        assert await rows(overt, metrics=["pageviews"], filters=complement) == [[[], [17]]]
        response = await ask(
            overt, metrics=["pageviews"], dimensions=["source"], filters=complement
        )
        problem = assert_problem(response, 422, "k-anonymity")
        assert "leave out" in str(problem["detail"])
    assert_problem(
        await ask(overt, metrics=["pageviews"], dimensions=["device"], filters=docs),
        422,
        "k-anonymity",
    )
    # Bing's 3 visitors: neither they nor everyone-but-them can be asked for.
    not_bing = {"not": {"dimension": "source", "op": "is", "values": ["Bing"]}}
    assert_problem(await ask(overt, metrics=["visitors"], filters=not_bing), 422, "k-anonymity")


async def test_a_new_definition_applies_to_history(overt: Overt) -> None:
    await traffic(overt)
    await store_definition(
        engine=overt.resources.engine,
        site_id=overt.site.id,
        body=DefinitionIn(engaged_min_ms=15_000, engaged_min_pageviews=3),
    )
    response = await ask(overt, metrics=["engaged_sessions"])
    body = response.json()
    # a3..a5 (15..17 s) and a0..a2 (goal); b0's two pages no longer count.
    assert body["results"][0]["metrics"] == [6]
    assert body["meta"]["definition_version"] == 1
    old = (await ask(overt, metrics=["engaged_sessions"], definition_version=0)).json()
    assert (old["results"][0]["metrics"], old["meta"]["definition_version"]) == ([7], 0)
    assert_problem(
        await ask(overt, metrics=["visitors"], definition_version=7),
        404,
        "unknown-definition-version",
    )


async def test_returning_visitors_use_tier_one_ids_only(overt: Overt) -> None:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    for i in range(6):
        analytics_id = f"{i:032x}"
        for at in (now_ms - 2 * 3600_000, now_ms):  # two sessions, two hours apart
            event = overt.event(t=at, a=analytics_id)
            assert (await overt.send(event, **agent(f"r{i}"))).status_code == 202
    for i in range(2):  # anonymous (tier 0) visitors can never count as returning
        await overt.send(overt.event(), **agent(f"n{i}"))
    await overt.drained()
    [[_, values]] = await rows(overt, metrics=["visitors", "sessions", "returning_visitors"])
    assert values == [8, 14, 6]


@pytest.mark.parametrize(
    "change",
    [
        {"dimensions": ["time:fortnight"]},
        {"dimensions": ["page", "page"]},
        {"dimensions": ["time:day", "time:hour"]},
        {"filters": {"dimension": "time:day", "op": "is", "values": ["x"]}},
        {"filters": {"dimension": "page", "op": "matches", "values": ["("]}},
        {"filters": {"dimension": "page", "op": "matches", "values": ["a" * 257]}},
        {"filters": {"dimension": "page", "op": "like", "values": ["/"]}},
        {"filters": {"dimension": "page", "op": "is", "values": []}},
        {"filters": {"and": []}},
        {"order_by": [{"field": "bounce_rate"}]},
        {"limit": 0},
        {"limit": 5000},
        {"dimensions": ["prop:bad key"]},
    ],
)
async def test_malformed_queries_are_422(overt: Overt, change: dict[str, Any]) -> None:
    response = await ask(overt, **{"metrics": ["visitors"], **change})
    assert assert_problem(response, 422, "validation-error")["errors"]


async def test_deep_filter_trees_are_refused(overt: Overt) -> None:
    node: dict[str, Any] = {"dimension": "page", "op": "is", "values": ["/"]}
    for _ in range(8):
        node = {"not": node}
    response = await ask(overt, metrics=["visitors"], filters=node)
    assert "nested at most" in str(assert_problem(response, 422, "validation-error")["errors"])
