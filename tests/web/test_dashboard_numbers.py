"""The dashboard's numbers are /v1/query's: on both backends, every tile, the chart and every
panel of a screen equal what POST /v1/query answers to the same question, over the traffic
of tests/helpers/traffic.py (17 visitors: 6 Google, 6 direct, 3 Bing, 2 DuckDuckGo; see
tests/api/test_query_engine.py)."""

from __future__ import annotations

from typing import Any

import pytest

from services.api.web.dashboard.panels import PANELS
from services.api.web.dashboard.service import (
    Screen,
    current_visitors,
    load_screen,
    screen_csv,
    tab_question,
)
from services.api.web.dashboard.state import TILE_METRICS, DashboardState, parse_state
from tests.helpers.dashboard import signed_in
from tests.helpers.imports import imported_goal_days
from tests.helpers.overt import Overt
from tests.helpers.traffic import days, traffic

pytestmark = pytest.mark.anyio


async def v1_query(overt: Overt, body: dict[str, Any]) -> dict[str, Any]:
    response = await overt.client.post(
        "/v1/query", json=body, headers={"authorization": f"Bearer {overt.key}"}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def screen_of(overt: Overt, pairs: list[tuple[str, str]]) -> Screen:
    return await load_screen(
        engine=overt.resources.engine,
        site_id=overt.site.id,
        state=parse_state(pairs),
        timeout_s=10,
    )


async def assert_screen_is_v1_query(overt: Overt, screen: Screen) -> None:
    """Every number of `screen` is what /v1/query answers to the same question."""
    state = screen.state
    assert screen.headline is not None
    filters = state.filter_tree()
    common: dict[str, Any] = {
        "site_id": overt.site.id,
        "date_range": [str(day) for day in screen.headline.days],
    }
    if filters is not None:
        common["filters"] = filters.model_dump(mode="json", by_alias=True, exclude_none=True)
    totals = await v1_query(
        overt,
        {
            **common,
            "metrics": list(TILE_METRICS),
            **({"comparisons": {"mode": state.compare}} if state.compare else {}),
        },
    )
    row = totals["results"][0]
    assert [tile.value for tile in screen.headline.tiles] == row["metrics"]
    if state.compare:
        assert [tile.before for tile in screen.headline.tiles] == row["comparison"]["metrics"]
        assert [tile.change for tile in screen.headline.tiles] == row["comparison"]["change"]
        assert [str(d) for d in screen.headline.other_days or ()] == (
            totals["meta"]["comparison_date_range"]
        )

    assert screen.series is not None
    by_time = await v1_query(
        overt,
        {**common, "metrics": [state.metric], "dimensions": [f"time:{screen.series.interval}"]},
    )
    found = {r["dimensions"][0]: r["metrics"][0] for r in by_time["results"]}
    assert set(found) <= set(screen.series.labels)
    assert {label: screen.series.values[i] for i, label in enumerate(screen.series.labels)} == {
        label: found.get(label, 0) for label in screen.series.labels
    }

    assert [view.panel.key for view in screen.panels] == [panel.key for panel in PANELS]
    for view in screen.panels:
        body = tab_question(
            site_id=overt.site.id,
            state=state,
            tab=view.tab,
            days=screen.headline.days,
            offset=0,
            limit=10,
        )
        asked = body.model_dump(mode="json", by_alias=True, exclude_none=True)
        answer = await v1_query(overt, asked)
        assert [[row.value] for row in view.rows] == [r["dimensions"] for r in answer["results"]]
        assert [row.metrics for row in view.rows] == [r["metrics"] for r in answer["results"]]
        assert view.notes == answer["meta"]["notes"]
        assert view.total_rows == answer["meta"]["total_rows"]


async def test_the_first_screen_is_what_v1_query_answers(overt: Overt) -> None:
    await traffic(overt)
    first, last = days()
    screen = await screen_of(
        overt, [("period", "custom"), ("from", first), ("to", last), ("compare", "previous_period")]
    )
    assert screen.refused is None
    assert screen.headline is not None
    # By hand (test_query_engine.py): 17 visitors, 18 pageviews, none the period before.
    assert screen.headline.tile("visitors").value == 17
    assert screen.headline.tile("pageviews").value == 18
    assert screen.headline.tile("visitors").change == 100
    assert screen.headline.tile("visitors").change_text == "+100%"
    await assert_screen_is_v1_query(overt, screen)
    sources = next(view for view in screen.panels if view.panel.key == "sources")
    assert [(row.value, row.metrics) for row in sources.rows] == [
        ("Direct", [6]),
        ("Google", [6]),
    ]
    # Bing (3) and DuckDuckGo (2) are under k = 5; none of them engaged, so even together
    # they do not reach k and are left out, and the panel says so in words.
    assert sources.notes[0] == (
        "2 groups smaller than 5 are left out: even together they are fewer than 5 visitors"
    )
    pages = next(view for view in screen.panels if view.panel.key == "pages")
    # Ties ordered by the value: / and /pricing (6 each), /blog (5), /docs (1).
    assert [row.value for row in pages.rows] == ["/", "/pricing", "/blog", "/docs"]
    assert pages.rows[1].share == pytest.approx(100 * 6 / 17)
    assert pages.notes == []  # pages are answered whole

    table = screen_csv(screen)
    assert "totals,,visitors,17,0,100\r\n" in table
    assert "Sources,Google,visitors,6,," in table


async def test_filters_intervals_and_tabs_change_the_numbers_as_v1_query_does(
    overt: Overt,
) -> None:
    await traffic(overt)
    first, last = days()
    screen = await screen_of(
        overt,
        [
            ("period", "custom"),
            ("from", first),
            ("to", last),
            ("f", "is,source,Google"),
            ("interval", "hour"),
            ("metric", "pageviews"),
            ("tab", "entry_page"),
            ("compare", "year_over_year"),
        ],
    )
    assert screen.headline is not None
    assert screen.headline.tile("visitors").value == 6
    assert screen.series is not None
    assert screen.series.interval == "hour"
    assert len(screen.series.labels) == 48
    assert sum(v or 0 for v in screen.series.values) == 6  # Google's six /pricing views
    assert screen.series.other_values is not None
    assert set(screen.series.other_values) == {0}
    await assert_screen_is_v1_query(overt, screen)


async def test_a_refused_filter_is_said_in_words_and_relative_presets_resolve(
    overt: Overt,
) -> None:
    await traffic(overt)
    refused = await screen_of(overt, [("f", "is,source,Bing")])
    assert refused.headline is None
    assert refused.refused is not None
    assert refused.refused.startswith("k-anonymity (k=5)")

    screen = await screen_of(overt, [("period", "7d"), ("compare", "previous_period")])
    assert screen.headline is not None
    assert screen.headline.tile("visitors").value == 17
    assert (screen.headline.days[1] - screen.headline.days[0]).days == 6
    await assert_screen_is_v1_query(overt, screen)


async def test_the_properties_tab_offers_the_keys_seen_and_breaks_down_by_one(
    overt: Overt,
) -> None:
    await traffic(overt)
    first, last = days()
    pairs = [("period", "custom"), ("from", first), ("to", last), ("tab", "props")]
    screen = await screen_of(overt, pairs)
    goals = next(view for view in screen.panels if view.panel.key == "goals")
    assert goals.choices == ["plan"]  # the Signup goal's props
    assert goals.tab.dimension == "prop:plan"
    # a0..a4 reached Signup with plan=pro, all engaged: 5 visitors, k = 5 lets it show;
    # every visitor has events without the prop, which /v1/query answers as (none).
    assert [(row.value, row.metrics) for row in goals.rows] == [
        ("(none)", [17, 18]),
        ("pro", [5, 5]),
    ]
    await assert_screen_is_v1_query(overt, screen)
    chosen = await screen_of(overt, [*pairs, ("prop", "nothing")])
    goals = next(view for view in chosen.panels if view.panel.key == "goals")
    assert goals.tab.dimension == "prop:nothing"
    assert [(row.value, row.metrics) for row in goals.rows] == [("(none)", [17, 23])]  # 18 + 5


async def test_with_imported_data_the_goals_panel_converts_visitors_as_v1_query_does(
    overt: Overt,
) -> None:
    """`traffic` today (17 visitors, 5 Signup) and an import of yesterday and today (10 + 20
    visitors; Signup 3 + 4 of them, Purchase 1): with `imports=1` the goals panel is
    /v1/query's answer with include.imports, 12 of 47 visitors converted to Signup."""
    await traffic(overt)
    yesterday, today = await imported_goal_days(overt)
    period = [("period", "custom"), ("from", yesterday), ("to", today)]
    own = await screen_of(overt, period)
    screen = await screen_of(overt, [*period, ("imports", "1")])
    assert own.headline is not None
    assert screen.headline is not None
    assert own.headline.tile("visitors").value == 17
    assert screen.headline.tile("visitors").value == 47
    # Imported data holds no engagement: those tiles are the site's own, and say so.
    for metric in ("engaged_time_p50", "engagement_rate"):
        assert screen.headline.tile(metric).value == own.headline.tile(metric).value
    assert any("engagement rate are the site's own" in n for n in screen.headline.notes)
    goals = next(view for view in screen.panels if view.panel.key == "goals")
    body = tab_question(
        site_id=overt.site.id,
        state=screen.state,
        tab=goals.tab,
        days=screen.headline.days,
        offset=0,
        limit=10,
    )
    answer = await v1_query(overt, body.model_dump(mode="json", by_alias=True, exclude_none=True))
    assert answer["query"]["include"] == {"imports": True}
    assert [[row.value, row.metrics] for row in goals.rows] == [
        [r["dimensions"][0], r["metrics"]] for r in answer["results"]
    ]
    # visitors, events, conversion rate: (5 + 3 + 4) / (17 + 10 + 20), 1 / 47
    assert [[row.value, row.metrics] for row in goals.rows] == [
        ["Signup", [12, 13, 0.2553]],
        ["Purchase", [1, 1, 0.0213]],
    ]
    assert any("converting visitors / visitors" in note for note in goals.notes)
    # A panel the imports cannot answer says why, beside the site's own numbers.
    links = next(view for view in screen.panels if view.panel.key == "links")
    assert links.notes == ["Imported data is not included here: the imported data has no prop:url."]
    # The page offers the choice, and shows the screen with imported data.
    async with await signed_in(overt, "viewer") as client:
        base = f"/app/sites/{overt.site.id}?period=custom&from={yesterday}&to={today}"
        plain = (await client.get(base)).text
        assert "Without imported data</summary>" in plain
        assert 'data-metric="visitors">17<' in plain
        html = (await client.get(base + "&imports=1")).text
        assert "With imported data</summary>" in html
        assert 'data-metric="visitors">47<' in html


async def test_current_visitors_are_the_realtime_answer(overt: Overt) -> None:
    await traffic(overt)
    now = await current_visitors(engine=overt.resources.engine, site_id=overt.site.id, timeout_s=10)
    response = await overt.client.get(
        f"/v1/sites/{overt.site.id}/realtime", headers={"authorization": f"Bearer {overt.key}"}
    )
    assert now.visitors == response.json()["visitors"] == 17
    assert [p.model_dump() for p in now.pages] == response.json()["pages"]


def test_a_default_state_asks_for_thirty_days() -> None:
    assert DashboardState().date_range() == "30d"
