"""Data out and in, on both backends: an export imported into a fresh site answers the same
numbers with `include.imports`; a hand-made Plausible CSV and an Umami export give
hand-computed totals; imports are kept apart, deletable, and refused when hostile."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update

from services.api.app import api_parts
from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from services.api.goals.schemas import GoalIn
from services.api.goals.service import create_goal
from services.api.keys.service import create_key, revoke_key
from services.api.transfer.models import IMPORTED, transfer_jobs
from services.api.transfer.service import (
    MAX_ATTEMPTS,
    claim_job,
    create_job,
    release_stale_jobs,
)
from shared.app import app_from_parts
from shared.keys import KeyScope
from shared.settings import Settings
from shared.sites import create_site
from tests.helpers.imports import imported, imported_goal_days, run_pending_jobs, zipped
from tests.helpers.isolation import TRANSFER_ENDPOINTS
from tests.helpers.overt import Overt, overt_with, running
from tests.helpers.problems import assert_problem
from tests.helpers.traffic import agent, days, traffic

pytestmark = pytest.mark.anyio


async def fresh_site(overt: Overt, domain: str) -> tuple[str, dict[str, str]]:
    """A site with a key that reads stats and writes imports."""
    site = await create_site(engine=overt.resources.engine, domain=domain)
    _, key = await create_key(
        engine=overt.resources.engine,
        site_id=site.id,
        scopes=[KeyScope.stats_read, KeyScope.imports_write],
    )
    return site.id, {"authorization": f"Bearer {key}"}


async def upload(
    overt: Overt, site_id: str, auth: dict[str, str], body: bytes, **params: str
) -> httpx.Response:
    return await overt.client.post(
        f"/v1/sites/{site_id}/imports", content=body, params=params, headers=auth
    )


async def answer(
    overt: Overt, site_id: str, auth: dict[str, str], date_range: list[str] | str, **query: Any
) -> dict[str, Any]:
    response = await overt.client.post(
        "/v1/query", json={"site_id": site_id, "date_range": date_range, **query}, headers=auth
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_an_export_imported_into_a_fresh_site_gives_the_same_numbers(overt: Overt) -> None:
    engine = overt.resources.engine
    await store_definition(engine=engine, site_id=overt.site.id, body=DefinitionIn(k=1))
    await traffic(overt)
    own = {"authorization": f"Bearer {overt.key}"}
    first, last = days()
    started = await overt.client.post(
        f"/v1/sites/{overt.site.id}/exports", json={"date_range": [first, last]}, headers=own
    )
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "pending"
    export_id = started.json()["id"]
    early = await overt.client.get(
        f"/v1/sites/{overt.site.id}/exports/{export_id}/file", headers=own
    )
    assert_problem(early, 409, "export-not-ready")
    await run_pending_jobs(overt)
    state = (
        await overt.client.get(f"/v1/sites/{overt.site.id}/exports/{export_id}", headers=own)
    ).json()
    assert state["status"] == "completed", state
    file = await overt.client.get(state["file"], headers=own)
    assert file.status_code == 200
    assert file.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(file.content))
    names = set(archive.namelist())
    day_range = f"{first.replace('-', '')}_{last.replace('-', '')}"
    assert f"imported_visitors_{day_range}.csv" in names
    assert len(names) == 11  # ten reports and the README
    assert "k-anonymity" in archive.read("README.txt").decode()

    site_id, auth = await fresh_site(overt, "copy.example.com")
    await imported(overt, site_id, auth, file.content, filename="export.zip")
    # At the fresh site's default k (5), imported sources under k fold as native ones do.
    folded = await answer(
        overt,
        site_id,
        auth,
        [first, last],
        metrics=["visitors"],
        dimensions=["source"],
        include={"imports": True},
    )
    assert ["(other)"] in [row["dimensions"] for row in folded["results"]]
    assert any("imported data" in note for note in folded["meta"]["notes"])
    await store_definition(engine=engine, site_id=site_id, body=DefinitionIn(k=1))
    cases: list[dict[str, Any]] = [
        {"metrics": ["visitors", "sessions", "pageviews"]},
        {"metrics": ["visitors", "sessions", "pageviews"], "dimensions": ["time:day"]},
        {"metrics": ["visitors", "sessions", "pageviews"], "dimensions": ["page"]},
        {"metrics": ["visitors", "sessions", "pageviews"], "dimensions": ["source"]},
        {"metrics": ["visitors", "sessions", "pageviews"], "dimensions": ["entry_page"]},
        {"metrics": ["visitors", "sessions", "pageviews"], "dimensions": ["exit_page"]},
        {"metrics": ["visitors", "sessions", "pageviews"], "dimensions": ["browser"]},
        {"metrics": ["visitors", "sessions", "pageviews"], "dimensions": ["device"]},
        {"metrics": ["visitors"], "dimensions": ["goal"]},
        # in visitors with imports, in sessions without: one and the same with `traffic`'s
        # one visit per visitor
        {"metrics": ["visitors", "conversion_rate"], "dimensions": ["goal"]},
        # rates, filters and comparisons answer from the parts the export wrote
        {"metrics": ["visitors", "visits", "bounce_rate", "visit_duration", "views_per_visit"]},
        {"metrics": ["visits", "bounce_rate", "visit_duration"], "dimensions": ["source"]},
        {
            "metrics": ["visitors", "pageviews", "bounce_rate"],
            "filters": {"dimension": "source", "op": "is", "values": ["Google"]},
        },
        {
            "metrics": ["visitors", "pageviews"],
            "dimensions": ["page"],
            "filters": {"dimension": "page", "op": "contains", "values": ["pricing"]},
        },
        {
            "metrics": ["visitors", "bounce_rate", "views_per_visit"],
            "dimensions": ["time:day"],
            "comparisons": {"mode": "previous_period"},
        },
    ]
    for case in cases:
        original = await answer(overt, overt.site.id, own, [first, last], **case)
        copy = await answer(overt, site_id, auth, [first, last], include={"imports": True}, **case)
        assert copy["meta"]["imports_included"] is True, case
        assert copy["results"] == original["results"], case
        assert original["results"], case  # something was counted
    # Without include.imports the fresh site has nothing of its own.
    bare = await answer(overt, site_id, auth, [first, last], metrics=["visitors"])
    assert bare["results"] == [{"dimensions": [], "metrics": [0]}]


PLAUSIBLE_VISITORS = """date,visitors,pageviews,bounces,visits,visit_duration
2026-01-01,10,25,4,12,600
2026-01-02,5,9,1,6,300
2026-01-03,7,7,7,7,0
"""
PLAUSIBLE_SOURCES = (
    "date,source,referrer,utm_source,utm_medium,utm_campaign,utm_content,utm_term,"
    "pageviews,visitors,visits,visit_duration,bounces\n"
    "2026-01-01,Google,,,,,,,20,8,9,500,3\n"
    "2026-01-01,,,,,,,,5,2,3,100,1\n"
    "2026-01-02,Google,,,,,,,9,5,6,300,1\n"
)


async def test_a_hand_made_plausible_export_gives_hand_computed_totals(overt: Overt) -> None:
    site_id, auth = await fresh_site(overt, "plausible.example.com")
    await store_definition(engine=overt.resources.engine, site_id=site_id, body=DefinitionIn(k=1))
    body = zipped(
        {
            "imported_visitors_20260101_20260103.csv": PLAUSIBLE_VISITORS,
            "sources_20260101_20260103.csv": PLAUSIBLE_SOURCES,  # the short name Plausible takes
        }
    )
    import_id = await imported(overt, site_id, auth, body)
    window = ["2026-01-01", "2026-01-02"]
    metrics = ["visitors", "sessions", "pageviews"]
    totals = await answer(overt, site_id, auth, window, metrics=metrics, include={"imports": True})
    assert totals["results"] == [{"dimensions": [], "metrics": [15, 18, 34]}]
    by_day = await answer(
        overt,
        site_id,
        auth,
        ["2026-01-01", "2026-01-31"],
        metrics=metrics,
        dimensions=["time:month"],
        include={"imports": True},
    )
    assert by_day["results"] == [{"dimensions": ["2026-01"], "metrics": [22, 25, 41]}]
    sources = await answer(
        overt,
        site_id,
        auth,
        window,
        metrics=metrics,
        dimensions=["source"],
        include={"imports": True},
    )
    assert sources["results"] == [
        {"dimensions": ["Google"], "metrics": [13, 15, 29]},
        {"dimensions": ["(none)"], "metrics": [2, 3, 5]},
    ]
    # A relative range is answered over its days.
    today = datetime.now(UTC).date()
    stamp = today.strftime("%Y%m%d")
    body = f"date,visitors\n{today.isoformat()},4\n".encode()
    await imported(overt, site_id, auth, body, filename=f"visitors_{stamp}_{stamp}.csv")
    day = await answer(overt, site_id, auth, "day", metrics=["visitors"], include={"imports": True})
    assert day["results"] == [{"dimensions": [], "metrics": [4]}]
    assert day["meta"]["imports_included"] is True
    # Rates are divided after adding up: bounces 4 + 1 of visits 12 + 6 = 27.8 %, seconds
    # 900 / 18 = 50, pageviews 34 / 18 = 1.89 per visit.
    rates = ["bounce_rate", "visit_duration", "views_per_visit"]
    rated = await answer(overt, site_id, auth, window, metrics=rates, include={"imports": True})
    assert rated["results"] == [{"dimensions": [], "metrics": [28, 50, 1.89]}]
    # By source: Google (3 + 1) / (9 + 6) = 26.7 %, the direct visits 1 / 3 = 33.3 %.
    by_source = await answer(
        overt,
        site_id,
        auth,
        window,
        metrics=["visits", "bounce_rate"],
        dimensions=["source"],
        include={"imports": True},
    )
    assert by_source["results"] == [
        {"dimensions": ["Google"], "metrics": [15, 27]},
        {"dimensions": ["(none)"], "metrics": [3, 33]},
    ]
    # A filter on the report's own dimension: Google's visits, 800 s / 15, 29 / 15 pageviews.
    google = {"dimension": "source", "op": "is", "values": ["Google"]}
    for filters in (
        google,
        {"dimension": "source", "op": "contains", "values": ["GOO"]},
        {"not": {"dimension": "source", "op": "is", "values": ["(none)"]}},
    ):
        filtered = await answer(
            overt,
            site_id,
            auth,
            window,
            metrics=["visitors", *rates],
            filters=filters,
            include={"imports": True},
        )
        assert filtered["meta"]["imports_included"] is True, filters
        assert filtered["results"] == [{"dimensions": [], "metrics": [13, 27, 53, 1.93]}], filters
    # Compared with the period before, imports in both: Jan 2-3 (visitors 5 + 7, bounces
    # 8 of 13 visits: 61.5 %) against Dec 31 - Jan 1 (10 visitors, 4 of 12: 33.3 %).
    compared = await answer(
        overt,
        site_id,
        auth,
        ["2026-01-02", "2026-01-03"],
        metrics=["visitors", "bounce_rate"],
        include={"imports": True},
        comparisons={"mode": "previous_period"},
    )
    assert compared["meta"]["imports_included"] is True
    assert compared["meta"]["comparison_date_range"] == ["2025-12-31", "2026-01-01"]
    assert compared["results"] == [
        {
            "dimensions": [],
            "metrics": [12, 62],
            "comparison": {"dimensions": [], "metrics": [10, 33], "change": [20, 29]},
        }
    ]
    # What the imports cannot answer is said, and the answer is the site's own: a filter on
    # a dimension of another report, a behavioural filter, a metric no report keeps.
    skipped: list[tuple[dict[str, Any], str]] = [
        (
            {
                "dimensions": ["source"],
                "filters": {"dimension": "page", "op": "is", "values": ["/"]},
            },
            "report of its own",
        ),
        ({"filters": {"has_done": google}}, "has_done"),
        (
            {"dimensions": ["page"], "metrics": ["visitors", "bounce_rate"]},
            "no bounce_rate by page",
        ),
        ({"metrics": ["engaged_sessions"]}, "no engaged_sessions"),
        ({"dimensions": ["goal"], "metrics": ["conversions"]}, "not visits"),
    ]
    for case, words in skipped:
        answered = await answer(
            overt,
            site_id,
            auth,
            window,
            **{"metrics": ["visitors"], **case},
            include={"imports": True},
        )
        assert answered["meta"]["imports_included"] is False, case
        assert words in answered["meta"]["imports_skip_reason"], case
        assert all(not any(row["metrics"]) for row in answered["results"]), case
    # Kept apart: not counted unless asked for; deleted with its import.
    plain = await answer(overt, site_id, auth, window, metrics=["visitors"])
    assert plain["results"] == [{"dimensions": [], "metrics": [0]}]
    assert plain["meta"]["imports_included"] is False
    deleted = await overt.client.delete(f"/v1/sites/{site_id}/imports/{import_id}", headers=auth)
    assert deleted.status_code == 204
    after = await answer(
        overt, site_id, auth, window, metrics=["visitors"], include={"imports": True}
    )
    assert after["results"] == [{"dimensions": [], "metrics": [0]}]


def test_rates_are_divided_once_after_adding_the_parts() -> None:
    """A site's own visit duration of 10.45 s over 20 visits (209 s) and 20 imported visits
    of 211 s: 420 s / 40 = 10.5 -> 11 s. Adding the rounded 10 s (200 s) would give 10."""
    from services.api.stats.imports import metric_values, native_parts
    from services.api.stats.schemas import Metric

    metrics = [Metric.visit_duration, Metric.visits]
    parts = native_parts(metrics, [10.45, 20])
    assert parts == {"visits": 20.0, "visit_duration": pytest.approx(209.0)}
    parts["visits"] += 20
    parts["visit_duration"] += 211
    assert metric_values(metrics, parts) == [11, 40]
    assert metric_values([Metric.bounce_rate], {"visits": 0}) == [None]  # nothing to divide


PLAUSIBLE_CUSTOM_EVENTS = """date,name,link_url,path,visitors,events
2026-01-01,Signup,,,3,4
2026-01-01,Purchase,,,1,1
2026-01-01,Outbound Link: Click,https://elsewhere.example,,2,2
2026-01-02,Signup,,,2,2
"""


async def test_imported_conversion_rates_are_converting_visitors_over_visitors(
    overt: Overt,
) -> None:
    """Plausible's imported conversion rate, from the CSV by hand: Jan 1-2 hold 10 + 5
    visitors; Signup 3 + 2 of them, Purchase 1 (outbound clicks are not goals)."""
    site_id, auth = await fresh_site(overt, "converted.example.com")
    await store_definition(engine=overt.resources.engine, site_id=site_id, body=DefinitionIn(k=1))
    files = {
        "imported_visitors_20260101_20260103.csv": PLAUSIBLE_VISITORS,
        "imported_custom_events_20260101_20260103.csv": PLAUSIBLE_CUSTOM_EVENTS,
    }
    await imported(overt, site_id, auth, zipped(files))
    window = ["2026-01-01", "2026-01-02"]
    rates = ["visitors", "conversion_rate", "group_conversion_rate"]
    by_goal = await answer(
        overt, site_id, auth, window, metrics=rates, dimensions=["goal"], include={"imports": True}
    )
    assert by_goal["meta"]["imports_included"] is True
    assert by_goal["results"] == [
        {"dimensions": ["Signup"], "metrics": [5, 0.3333, 0.3333]},  # 5 / 15
        {"dimensions": ["Purchase"], "metrics": [1, 0.0667, 0.0667]},  # 1 / 15
    ]
    assert any("converting visitors / visitors" in note for note in by_goal["meta"]["notes"])
    # Under a goal filter, by day: the group rate divides by the day's visitors (3 / 10,
    # 2 / 5), the conversion rate by the range's (3 / 15, 2 / 15).
    signup = {"dimension": "goal", "op": "is", "values": ["Signup"]}
    daily = await answer(
        overt,
        site_id,
        auth,
        window,
        metrics=rates,
        dimensions=["time:day"],
        filters=signup,
        include={"imports": True},
    )
    assert daily["results"] == [
        {"dimensions": ["2026-01-01"], "metrics": [3, 0.2, 0.3]},
        {"dimensions": ["2026-01-02"], "metrics": [2, 0.1333, 0.4]},
    ]
    # The period before (Dec 30-31) has no visitors to divide by: no rate.
    compared = await answer(
        overt,
        site_id,
        auth,
        window,
        metrics=["conversion_rate"],
        filters={"dimension": "goal", "op": "contains", "values": ["sign"]},
        comparisons={"mode": "previous_period"},
        include={"imports": True},
    )
    assert compared["results"][0]["metrics"] == [0.3333]
    assert compared["results"][0]["comparison"]["metrics"] == [None]
    # What cannot be exact is said, and the answer is the site's own (nothing here).
    skipped: list[tuple[dict[str, Any], str]] = [
        ({"metrics": ["conversions"], "dimensions": ["goal"]}, "not visits"),
        ({"metrics": ["conversion_rate"]}, "only by goal or under a goal filter"),
        (
            {
                "metrics": ["conversion_rate"],
                "filters": {"dimension": "goal", "op": "is_not", "values": ["Signup"]},
            },
            "not under their opposites",
        ),
        (
            {
                "metrics": ["conversion_rate"],
                "filters": {"dimension": "goal", "op": "is", "values": ["Signup", "Purchase"]},
            },
            "count a visitor twice",  # Jan 1: a visitor may have done both
        ),
        (
            {"metrics": ["group_conversion_rate"], "dimensions": ["goal", "source"]},
            "report of its own",
        ),
    ]
    for case, words in skipped:
        answered = await answer(overt, site_id, auth, window, include={"imports": True}, **case)
        assert answered["meta"]["imports_included"] is False, case
        assert words in answered["meta"]["imports_skip_reason"], case
    # Both goals on a day are fine one goal per row: by goal under the same filter.
    both = await answer(
        overt,
        site_id,
        auth,
        window,
        metrics=["conversion_rate"],
        dimensions=["goal"],
        filters={"dimension": "goal", "op": "is", "values": ["Signup", "Purchase"]},
        include={"imports": True},
    )
    assert [row["metrics"] for row in both["results"]] == [[0.3333], [0.0667]]
    # A page goal has no imported visitors to convert: its rate is not made up.
    await create_goal(
        engine=overt.resources.engine, site_id=site_id, body=GoalIn(page="/thank-you")
    )
    paged = await answer(
        overt,
        site_id,
        auth,
        window,
        metrics=["conversion_rate"],
        dimensions=["goal"],
        include={"imports": True},
    )
    assert "page goal 'Visit /thank-you'" in paged["meta"]["imports_skip_reason"]


async def test_conversion_rates_add_the_site_own_visitors_to_the_imported(overt: Overt) -> None:
    """`traffic` today: 17 visitors, 5 of them Signup. Imported: yesterday 10 visitors (3
    Signup, 1 Purchase), today 20 (4 Signup). Over both days 12 of 47 visitors signed up."""
    engine = overt.resources.engine
    await store_definition(engine=engine, site_id=overt.site.id, body=DefinitionIn(k=1))
    await traffic(overt)
    auth = {"authorization": f"Bearer {overt.key}"}
    yesterday, today = await imported_goal_days(overt)
    window = [yesterday, today]
    rates = ["visitors", "conversion_rate", "group_conversion_rate"]
    by_goal = await answer(
        overt,
        overt.site.id,
        auth,
        window,
        metrics=rates,
        dimensions=["goal"],
        include={"imports": True},
    )
    assert by_goal["meta"]["imports_included"] is True
    assert by_goal["results"] == [
        {"dimensions": ["Signup"], "metrics": [12, 0.2553, 0.2553]},
        {"dimensions": ["Purchase"], "metrics": [1, 0.0213, 0.0213]},
    ]
    signup = {"dimension": "goal", "op": "is", "values": ["Signup"]}
    daily = await answer(
        overt,
        overt.site.id,
        auth,
        window,
        metrics=rates,
        dimensions=["time:day"],
        filters=signup,
        include={"imports": True},
    )
    assert daily["results"] == [
        {"dimensions": [yesterday], "metrics": [3, 0.0638, 0.3]},  # 3 / 47, 3 / 10
        {"dimensions": [today], "metrics": [9, 0.1915, 0.2432]},  # 9 / 47, 9 / 37
    ]
    # Without imports the site's own rate is in sessions, as before: 5 of 17.
    own = await answer(
        overt, overt.site.id, auth, window, metrics=["conversion_rate"], filters=signup
    )
    assert own["results"] == [{"dimensions": [], "metrics": [0.2941]}]
    assert own["meta"]["imports_included"] is False


PLAUSIBLE_LOCATIONS = (
    "date,country,region,city,visitors,visits,visit_duration,bounces,pageviews\n"
    "{day},DE,DE-BE,2950159,6,7,350,2,14\n"
    "{day},FR,,0,3,3,60,3,3\n"
    "{day},DE,DE-BY,2867714,4,5,250,1,8\n"
)


async def test_imports_add_to_the_site_own_rows_part_by_part(overt: Overt) -> None:
    """`traffic` (17 visits today: Google 6 with 1 bounce, direct 6, Bing 3, DuckDuckGo 2;
    11 bounces, 18 pageviews) plus a day of imported visitors, sources and locations."""
    engine = overt.resources.engine
    await store_definition(engine=engine, site_id=overt.site.id, body=DefinitionIn(k=1))
    await traffic(overt)
    auth = {"authorization": f"Bearer {overt.key}"}
    _, key = await create_key(engine=engine, site_id=overt.site.id, scopes=[KeyScope.imports_write])
    today = datetime.now(UTC).date()
    stamp = today.strftime("%Y%m%d")
    day = today.isoformat()
    files = {
        f"imported_visitors_{stamp}_{stamp}.csv": PLAUSIBLE_VISITORS.splitlines()[0]
        + f"\n{day},10,25,4,12,600\n",
        f"imported_sources_{stamp}_{stamp}.csv": PLAUSIBLE_SOURCES.splitlines()[0]
        + f"\n{day},Google,,,,,,,20,8,9,500,3\n",
        f"imported_locations_{stamp}_{stamp}.csv": PLAUSIBLE_LOCATIONS.format(day=day),
    }
    await imported(overt, overt.site.id, {"authorization": f"Bearer {key}"}, zipped(files))
    window = [day, day]
    # visitors 17 + 10; bounces 11 + 4 of 17 + 12 visits = 51.7 %; (18 + 25) / 29 = 1.48
    total = await answer(
        overt,
        overt.site.id,
        auth,
        window,
        metrics=["visitors", "visits", "bounce_rate", "views_per_visit"],
        include={"imports": True},
    )
    assert total["meta"]["imports_included"] is True
    assert total["results"] == [{"dimensions": [], "metrics": [27, 29, 52, 1.48]}]
    # Google: 6 + 8 visitors, bounces 1 + 3 of 6 + 9 visits = 26.7 %, (6 + 20) / 15 = 1.73
    google = await answer(
        overt,
        overt.site.id,
        auth,
        window,
        metrics=["visitors", "bounce_rate", "views_per_visit"],
        filters={"dimension": "source", "op": "is", "values": ["Google"]},
        include={"imports": True},
    )
    assert google["results"] == [{"dimensions": [], "metrics": [14, 27, 1.73]}]
    # Shares of all 17 + 10 visitors: Google 6 + 8, direct 6, Bing 3, DuckDuckGo 2.
    shares = await answer(
        overt,
        overt.site.id,
        auth,
        window,
        metrics=["visitors", "percentage"],
        dimensions=["source"],
        include={"imports": True},
    )
    assert shares["meta"]["imports_included"] is True
    assert [row["metrics"] for row in shares["results"]] == [
        [14, 51.9],
        [6, 22.2],
        [3, 11.1],
        [2, 7.4],
    ]
    # Cities by their GeoNames id and regions as imported; the site's own events here have
    # no place: "(none)" 17 + 3 (the imported row without a city).
    cities = await answer(
        overt,
        overt.site.id,
        auth,
        window,
        metrics=["visitors", "bounce_rate"],
        dimensions=["city"],
        include={"imports": True},
    )
    assert cities["results"] == [
        {"dimensions": ["(none)"], "metrics": [20, 70]},  # (11 + 3) bounces / (17 + 3)
        {"dimensions": ["geonames:2950159"], "metrics": [6, 29]},  # 2 / 7
        {"dimensions": ["geonames:2867714"], "metrics": [4, 20]},  # 1 / 5
    ]
    assert any("GeoNames" in note for note in cities["meta"]["notes"])
    regions = await answer(
        overt,
        overt.site.id,
        auth,
        window,
        metrics=["visitors"],
        dimensions=["region"],
        filters={"dimension": "country", "op": "is", "values": ["DE"]},
        include={"imports": True},
    )
    assert regions["results"] == [
        {"dimensions": ["DE-BE"], "metrics": [6]},
        {"dimensions": ["DE-BY"], "metrics": [4]},
    ]
    # Under k = 5, a filter that selects fewer than k imported visitors keeps them out.
    await store_definition(engine=engine, site_id=overt.site.id, body=DefinitionIn(k=5))
    few = await answer(
        overt,
        overt.site.id,
        auth,
        window,
        metrics=["visitors"],
        dimensions=["country"],
        filters={"dimension": "region", "op": "is", "values": ["DE-BY"]},
        include={"imports": True},
    )
    assert few["meta"]["imports_included"] is False
    assert "fewer than k" in few["meta"]["imports_skip_reason"]


UMAMI = (
    (
        "website_id,session_id,visit_id,event_id,hostname,browser,os,device,country,url_path,"
        "referrer_domain,event_type,event_name,created_at\n"
    )
    + """w,s1,v1,e1,example.com,chrome,Mac OS,desktop,DE,/,www.google.com,1,,2026-02-01 10:00:00
w,s1,v1,e2,example.com,chrome,Mac OS,desktop,DE,/pricing,,1,,2026-02-01 10:01:30
w,s1,v1,e3,example.com,chrome,Mac OS,desktop,DE,/pricing,,2,signup,2026-02-01 10:02:00
w,s2,v2,e4,example.com,firefox,Windows 10,mobile,FR,/blog,,1,,2026-02-01 11:00:00
w,s1,v3,e5,example.com,chrome,Mac OS,desktop,DE,/,,1,,2026-02-02 09:00:00
w,s3,v4,e6,example.com,safari,iOS,mobile,US,/,news.ycombinator.com,1,,2026-02-02 09:30:00
w,s3,v4,e7,example.com,safari,iOS,mobile,US,/docs,,1,,2026-02-02 09:35:00
w,s3,v4,e8,example.com,safari,iOS,mobile,US,/docs,,3,,2026-02-02 09:36:00
"""
)


async def test_an_umami_export_gives_hand_computed_totals(overt: Overt) -> None:
    site_id, auth = await fresh_site(overt, "umami.example.com")
    await store_definition(engine=overt.resources.engine, site_id=site_id, body=DefinitionIn(k=1))
    await imported(overt, site_id, auth, UMAMI.encode(), filename="website_event.csv")
    window = ["2026-02-01", "2026-02-02"]
    metrics = ["visitors", "sessions", "pageviews"]
    # day 1: visitors s1, s2; visits v1, v2; pageviews 3. day 2: s1, s3; v3, v4; pageviews 3
    # (the type-3 row is skipped).
    totals = await answer(overt, site_id, auth, window, metrics=metrics, include={"imports": True})
    assert totals["results"] == [{"dimensions": [], "metrics": [4, 4, 6]}]
    pages = await answer(
        overt,
        site_id,
        auth,
        window,
        metrics=metrics,
        dimensions=["page"],
        include={"imports": True},
    )
    assert pages["results"] == [
        {"dimensions": ["/"], "metrics": [3, 3, 3]},
        {"dimensions": ["/blog"], "metrics": [1, 1, 1]},
        {"dimensions": ["/docs"], "metrics": [1, 1, 1]},
        {"dimensions": ["/pricing"], "metrics": [1, 1, 1]},
    ]
    entry = await answer(
        overt,
        site_id,
        auth,
        window,
        metrics=["sessions"],
        dimensions=["entry_page"],
        include={"imports": True},
    )
    assert entry["results"] == [
        {"dimensions": ["/"], "metrics": [3]},
        {"dimensions": ["/blog"], "metrics": [1]},
    ]
    sources = await answer(
        overt,
        site_id,
        auth,
        window,
        metrics=["visitors"],
        dimensions=["source"],
        include={"imports": True},
    )
    assert sources["results"] == [
        {"dimensions": ["(none)"], "metrics": [2]},
        {"dimensions": ["google.com"], "metrics": [1]},
        {"dimensions": ["news.ycombinator.com"], "metrics": [1]},
    ]
    goals = await answer(
        overt,
        site_id,
        auth,
        window,
        metrics=["visitors"],
        dimensions=["goal"],
        include={"imports": True},
    )
    assert goals["results"] == [{"dimensions": ["signup"], "metrics": [1]}]
    browsers = await answer(
        overt,
        site_id,
        auth,
        window,
        metrics=["sessions"],
        dimensions=["browser"],
        include={"imports": True},
    )
    assert browsers["results"] == [
        {"dimensions": ["Chrome"], "metrics": [2]},
        {"dimensions": ["Firefox"], "metrics": [1]},
        {"dimensions": ["Safari"], "metrics": [1]},
    ]


def bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("imported_visitors_20260101_20260101.csv", b"0" * 20_000_000)
    return out.getvalue()


def traversal() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("../../etc/imported_visitors_20260101_20260101.csv", PLAUSIBLE_VISITORS)
    return out.getvalue()


@pytest.mark.parametrize(
    ("body", "params", "status", "words"),
    [
        (bomb(), {}, 413, "zip bomb"),
        (traversal(), {}, 422, "refused"),
        (
            b"date,visitors\n2026-01-01," + b"9" * 70_000 + b"\n",
            {"filename": "imported_visitors_20260101_20260101.csv"},
            422,
            "longer than",
        ),
        (
            "date,visitors\n2026-01-01,\xff\n".encode("latin-1"),
            {"filename": "imported_visitors_20260101_20260101.csv"},
            422,
            "UTF-8",
        ),
        (
            b"date,visitors\n2026-13-01,3\n",
            {"filename": "imported_visitors_20260101_20260101.csv"},
            422,
            "line 2",
        ),
        (
            b"date,visitors\n2026-01-01,-3\n",
            {"filename": "imported_visitors_20260101_20260101.csv"},
            422,
            "whole number",
        ),
        (b"a,b\n1,2\n", {"filename": "notes.csv"}, 422, "not a report"),
        (b"PK\x03\x04garbage", {}, 422, "zip"),
        (b"", {}, 422, "empty"),
    ],
)
async def test_hostile_uploads_are_refused_with_a_problem(
    overt: Overt, body: bytes, params: dict[str, str], status: int, words: str
) -> None:
    site_id, auth = await fresh_site(overt, "hostile.example.com")
    response = await upload(overt, site_id, auth, body, **params)
    problem = assert_problem(response, status, "bad-import")
    assert words in str(problem["detail"])
    listed = await overt.client.get(f"/v1/sites/{site_id}/imports", headers=auth)
    assert listed.json()["jobs"] == []  # nothing kept


async def test_a_nul_in_the_file_name_is_refused_and_nothing_kept(overt: Overt) -> None:
    # A NUL (schemathesis sends them) reached transfer_jobs.filename on PostgreSQL, whose
    # text cannot hold it (500); SQLite kept it. Now a 422 on both, before the upload is read.
    site_id, auth = await fresh_site(overt, "nul.example.com")
    body = zipped({"imported_visitors_20260101_20260103.csv": PLAUSIBLE_VISITORS})
    response = await upload(overt, site_id, auth, body, filename="export\x00.zip")
    problem = assert_problem(response, 422, "validation-error")
    assert "filename" in str(problem["errors"])
    listed = await overt.client.get(f"/v1/sites/{site_id}/imports", headers=auth)
    assert listed.json()["jobs"] == []


# A NUL in a cell of each format's files: (upload, its file, the line, the file's column).
UNSTORABLE_CELLS = {
    "plausible referrer": (
        zipped(
            {
                "imported_sources_20260101_20260102.csv": PLAUSIBLE_SOURCES.replace(
                    "Google,,", "Google,goo\x00gle.com,", 2
                )
            }
        ),
        {},
        "imported_sources_20260101_20260102.csv",
        2,
        "referrer",
    ),
    "plausible page": (
        b"date,hostname,page,visits,visitors,pageviews\n2026-01-01,example.com,/a,1,1,1\n"
        b"2026-01-01,example.com,/b\x00,1,1,1\n",
        {"filename": "imported_pages_20260101_20260101.csv"},
        "imported_pages_20260101_20260101.csv",
        3,
        "page",
    ),
    **{
        f"umami {column}": (
            UMAMI.replace(value, value + "\x00", 1).encode(),
            {"filename": "website_event.csv"},
            "website_event.csv",
            line,
            column,
        )
        for column, value, line in [
            ("url_path", "/pricing", 3),
            ("referrer_domain", "news.ycombinator.com", 7),
            ("event_name", "signup", 4),
            ("os", "Windows 10", 5),
            ("session_id", "s3", 7),
        ]
    },
}


@pytest.mark.parametrize("cell", UNSTORABLE_CELLS)
async def test_a_nul_in_a_cell_refuses_the_upload_naming_file_line_and_column(
    overt: Overt, cell: str
) -> None:
    # PostgreSQL's text cannot hold NUL (SQLite's can): an import that stored one would be
    # counted on one backend and fail on the other. Refused whole, as any bad cell is.
    body, params, filename, line, column = UNSTORABLE_CELLS[cell]
    site_id, auth = await fresh_site(overt, "cells.example.com")
    response = await upload(overt, site_id, auth, body, **params)
    problem = assert_problem(response, 422, "bad-import")
    assert str(problem["detail"]).startswith(f"{filename} line {line}: {column}: "), problem
    assert "NUL" in str(problem["detail"])
    listed = await overt.client.get(f"/v1/sites/{site_id}/imports", headers=auth)
    assert listed.json()["jobs"] == []  # nothing kept


@pytest.mark.parametrize("data_format", ["plausible", "umami"])
async def test_a_kept_upload_with_a_nul_fails_its_job_clearly_and_stores_nothing(
    overt: Overt, data_format: str, tmp_path: Path
) -> None:
    # An upload kept before its cells were checked (an older Overt's pending job): its
    # job is failed with the same reason, never a database error, and leaves no rows.
    engine = overt.resources.engine
    site_id, auth = await fresh_site(overt, "kept.example.com")
    cell = "plausible page" if data_format == "plausible" else "umami url_path"
    body, _, filename, line, column = UNSTORABLE_CELLS[cell]
    path = tmp_path / "upload"
    path.write_bytes(body)
    job_id = await create_job(
        engine=engine,
        site_id=site_id,
        kind="import",
        data_format=data_format,
        filename=filename,
        first_day=None,
        last_day=None,
        upload=path,
    )
    await run_pending_jobs(overt)
    state = await overt.client.get(f"/v1/sites/{site_id}/imports/{job_id}", headers=auth)
    assert state.json()["status"] == "failed"
    assert state.json()["error"].startswith(f"{filename} line {line}: {column}: ")
    async with engine.connect() as conn:
        for table in IMPORTED.values():
            kept = await conn.execute(select(table.c.line).where(table.c.import_id == job_id))
            assert kept.all() == []


async def test_imports_need_their_own_scope_and_site(overt: Overt) -> None:
    stats_only = {"authorization": f"Bearer {overt.key}"}
    response = await upload(overt, overt.site.id, stats_only, PLAUSIBLE_VISITORS.encode())
    assert_problem(response, 403, "missing-scope")
    _, other_auth = await fresh_site(overt, "other.example.com")
    response = await upload(overt, overt.site.id, other_auth, PLAUSIBLE_VISITORS.encode())
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "scope", "body"),
    TRANSFER_ENDPOINTS,
    ids=[f"{method} {path}" for method, path, _, _ in TRANSFER_ENDPOINTS],
)
async def test_endpoint_refuses_other_site_revoked_and_unscoped_keys(
    overt: Overt, method: str, path: str, scope: KeyScope, body: bytes | None
) -> None:
    engine = overt.resources.engine
    site_id, owner = await fresh_site(overt, "isolated.example.com")
    export = await overt.client.post(
        f"/v1/sites/{site_id}/exports",
        json={"date_range": ["2026-01-01", "2026-01-01"]},
        headers=owner,
    )
    import_id = await imported(
        overt,
        site_id,
        owner,
        PLAUSIBLE_VISITORS.encode(),
        filename="imported_visitors_20260101_20260103.csv",
    )
    url = path.format(site=site_id, export=export.json()["id"], **{"import": import_id})
    params = {"filename": "imported_visitors_20260101_20260101.csv"} if "imports" in url else {}

    async def call(headers: dict[str, str]) -> httpx.Response:
        return await overt.client.request(
            method,
            url,
            content=body,
            params=params,
            headers={
                **headers,
                "content-type": "application/json" if "exports" in url else "text/csv",
            },
        )

    other_id, other = await fresh_site(overt, "elsewhere.example.com")
    problem = assert_problem(await call(other), 403, "wrong-site")
    assert problem.pop("instance") == url  # the caller's own path, echoed
    assert import_id not in str(problem)
    others = [s for s in KeyScope if s != scope]
    _, unscoped = await create_key(engine=engine, site_id=site_id, scopes=others)
    assert_problem(await call({"authorization": f"Bearer {unscoped}"}), 403, "missing-scope")
    key, secret = await create_key(engine=engine, site_id=site_id, scopes=[scope])
    allowed = await call({"authorization": f"Bearer {secret}"})
    assert allowed.status_code in (200, 202, 204), allowed.text
    assert await revoke_key(engine=engine, key_id=key.id)
    assert_problem(await call({"authorization": f"Bearer {secret}"}), 401, "invalid-api-key")
    assert_problem(await call({}), 401, "api-key-required")
    assert other_id != site_id


async def test_a_job_whose_runner_stopped_is_run_again_or_failed_clearly(overt: Overt) -> None:
    engine = overt.resources.engine
    site_id, auth = await fresh_site(overt, "restart.example.com")
    response = await upload(
        overt,
        site_id,
        auth,
        PLAUSIBLE_VISITORS.encode(),
        filename="imported_visitors_20260101_20260103.csv",
    )
    job_id = response.json()["id"]
    # A process claimed it and died mid-way: rows stored, no heartbeat since.
    assert await claim_job(engine=engine) == job_id
    table = IMPORTED["imported_visitors"]
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    async with engine.begin() as conn:
        await conn.execute(
            insert(table).values(
                site_id=site_id,
                import_id=job_id,
                line=1,
                date=date(2026, 1, 1),
                visitors=99,
                pageviews=0,
                bounces=0,
                visits=0,
                visit_duration=0,
            )
        )
        await conn.execute(
            update(transfer_jobs).where(transfer_jobs.c.id == job_id).values(heartbeat_at=long_ago)
        )
    await release_stale_jobs(engine=engine)
    state = await overt.client.get(f"/v1/sites/{site_id}/imports/{job_id}", headers=auth)
    assert state.json()["status"] == "pending"
    await run_pending_jobs(overt)  # from scratch: the dead attempt's row is gone
    await store_definition(engine=engine, site_id=site_id, body=DefinitionIn(k=1))
    totals = await answer(
        overt,
        site_id,
        auth,
        ["2026-01-01", "2026-01-03"],
        metrics=["visitors"],
        include={"imports": True},
    )
    assert totals["results"] == [{"dimensions": [], "metrics": [22]}]
    # A job whose runners keep dying is failed, with a reason, not retried forever.
    async with engine.begin() as conn:
        await conn.execute(
            update(transfer_jobs)
            .where(transfer_jobs.c.id == job_id)
            .values(status="running", attempts=MAX_ATTEMPTS, heartbeat_at=long_ago)
        )
    await release_stale_jobs(engine=engine)
    state = await overt.client.get(f"/v1/sites/{site_id}/imports/{job_id}", headers=auth)
    assert state.json()["status"] == "failed"
    assert "start it again" in state.json()["error"]


async def test_the_api_process_runs_jobs_in_the_background(overt: Overt) -> None:
    """The API's own parts (as `overt serve api` and `overt up` have them) run the jobs."""
    app = app_from_parts("Overt API (test)", overt.resources.settings, api_parts(), overt.resources)
    site_id, auth = await fresh_site(overt, "background.example.com")
    async with running(app) as client:
        response = await client.post(
            f"/v1/sites/{site_id}/imports",
            content=PLAUSIBLE_VISITORS.encode(),
            headers=auth,
            params={"filename": "imported_visitors_20260101_20260103.csv"},
        )
        assert response.status_code == 202, response.text
        url = f"/v1/sites/{site_id}/imports/{response.json()['id']}"
        async with asyncio.timeout(30):
            while (state := (await client.get(url, headers=auth)).json())["status"] in (
                "pending",
                "running",
            ):
                await asyncio.sleep(0.05)
    assert state["status"] == "completed"
    assert state["progress"] == state["total"] == 3
    assert state["date_range"] == ["2026-01-01", "2026-01-03"]


async def exported(overt: Overt, first: str, last: str) -> bytes:
    """The zip of the fixture site's export of [first, last], its job run to the end."""
    own = {"authorization": f"Bearer {overt.key}"}
    started = await overt.client.post(
        f"/v1/sites/{overt.site.id}/exports", json={"date_range": [first, last]}, headers=own
    )
    assert started.status_code == 202, started.text
    await run_pending_jobs(overt)
    file = await overt.client.get(
        f"/v1/sites/{overt.site.id}/exports/{started.json()['id']}/file", headers=own
    )
    assert file.status_code == 200, file.text
    return file.content


def report_rows(content: bytes, report: str, first: str, last: str) -> list[dict[str, str]]:
    """One report's rows in an export's zip."""
    day_range = f"{first.replace('-', '')}_{last.replace('-', '')}"
    text = zipfile.ZipFile(io.BytesIO(content)).read(f"{report}_{day_range}.csv").decode()
    return list(csv.DictReader(io.StringIO(text)))


async def test_an_export_holds_what_a_query_answers_under_k(overt: Overt) -> None:
    """At the default k (5), a quasi-identifier's report folds like a breakdown; the site's
    own pages are complete."""
    await traffic(overt)
    own = {"authorization": f"Bearer {overt.key}"}
    first, last = days()
    content = await exported(overt, first, last)

    def rows(report: str) -> list[dict[str, str]]:
        return report_rows(content, report, first, last)

    # Bing (3) and DuckDuckGo (2) visitors only hit a page once: under k even together,
    # so left out, as /v1/query leaves them out; Google and direct visitors are shown.
    sources = {row["source"]: row for row in rows("imported_sources")}
    assert set(sources) == {"Google", "Direct"}
    assert sources["Google"]["visitors"] == "6"
    assert sources["Google"]["visits"] == "6"
    query = await answer(
        overt, overt.site.id, own, [first, last], metrics=["visitors"], dimensions=["source"]
    )
    assert len(query["results"]) == len(sources)
    # Pages are the site's own: every one, whatever its size.
    pages = {row["page"]: row for row in rows("imported_pages")}
    assert set(pages) == {"/pricing", "/", "/docs", "/blog"}
    assert pages["/blog"]["visitors"] == "5"
    assert pages["/blog"]["hostname"] == "example.com"
    totals = rows("imported_visitors")
    assert sum(int(row["visitors"]) for row in totals) == 17
    # Bounces as the engine counts them (one pageview, no custom event): 17 visits less b0
    # (two pages) and a0..a4 (Signup).
    assert sum(int(row["bounces"]) for row in totals) == 11
    goals = rows("imported_custom_events")
    assert [(row["name"], row["visitors"], row["events"]) for row in goals] == [
        ("Signup", "5", "5")
    ]


async def test_an_export_imported_again_keeps_regions(settings: Settings) -> None:
    """Visitors placed by the bundled geography data (Mountain View twice, Sydney, London)
    are exported by country and region; imported into a fresh site they answer the same
    regions and countries. Cities are not in the export (Plausible's column is a GeoNames
    id, Overt keeps names): 0, read as "(none)"."""
    places = [("m0", "8.8.8.8"), ("m1", "8.8.8.8"), ("s0", "1.1.1.1"), ("l0", "81.2.69.142")]
    async with overt_with(settings, client_ip_header="x-real-ip") as overt:
        engine = overt.resources.engine
        await store_definition(engine=engine, site_id=overt.site.id, body=DefinitionIn(k=1))
        for who, ip in places:
            response = await overt.send([overt.event()], **agent(who), **{"x-real-ip": ip})
            assert response.status_code == 202, response.text
        await overt.drained()
        first, last = days()
        content = await exported(overt, first, last)
        locations = report_rows(content, "imported_locations", first, last)
        assert sorted((r["country"], r["region"], r["city"], r["visitors"]) for r in locations) == [
            ("AU", "AU-NSW", "0", "1"),
            ("GB", "GB-ENG", "0", "1"),
            ("US", "US-CA", "0", "2"),
        ]
        site_id, auth = await fresh_site(overt, "regions.example.com")
        await store_definition(engine=engine, site_id=site_id, body=DefinitionIn(k=1))
        await imported(overt, site_id, auth, content, filename="export.zip")
        own = {"authorization": f"Bearer {overt.key}"}
        for dimensions in (["region"], ["country"], ["country", "region"]):
            query = {"metrics": ["visitors", "visits", "bounce_rate"], "dimensions": dimensions}
            original = await answer(overt, overt.site.id, own, [first, last], **query)
            copy = await answer(
                overt, site_id, auth, [first, last], include={"imports": True}, **query
            )
            assert copy["meta"]["imports_included"] is True, dimensions
            assert copy["results"] == original["results"], dimensions
            assert len(original["results"]) == 3, dimensions
        cities = await answer(
            overt,
            site_id,
            auth,
            [first, last],
            metrics=["visitors"],
            dimensions=["city"],
            include={"imports": True},
        )
        assert cities["results"] == [{"dimensions": ["(none)"], "metrics": [4]}]
