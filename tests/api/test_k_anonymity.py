"""k where it protects, on both backends: k-anonymity folds breakdowns by the
quasi-identifiers (where, which device, where from) and refuses filters on them that single
out fewer than k visitors; a site's own totals, time series and pages are always answered.
Only visitors with engagement count toward k, so bare hits cannot pad a group up to k."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from services.api.stats.privacy import QUASI_IDENTIFIERS, is_quasi_identifier
from services.api.stats.schemas import PLAIN_DIMENSIONS
from shared.settings import Settings
from tests.helpers.overt import Overt, overt_with
from tests.helpers.problems import assert_problem
from tests.helpers.traffic import ask, days, rows, traffic, visit

pytestmark = pytest.mark.anyio

COUNTRY = "cf-ipcountry"


@pytest.fixture
async def geo(settings: Settings) -> AsyncIterator[Overt]:
    """A site behind a proxy that tells the visitor's country."""
    async with overt_with(settings, country_header=COUNTRY) as overt:
        yield overt


async def four_french_one_german(overt: Overt) -> None:
    """Five engaged visitors on /: f0..f3 from FR, g0 from DE."""
    for i in range(4):
        await visit(overt, f"f{i}", "/", engaged_ms=5_000, headers={COUNTRY: "FR"})
    await visit(overt, "g0", "/", engaged_ms=7_000, headers={COUNTRY: "DE"})
    await overt.drained()


def test_every_dimension_is_classified() -> None:
    """Pages, goals, hostnames, event names and time are answered whole; every other
    dimension (versions and channel too), and any prop, is a quasi-identifier (an unknown one
    too: the classification fails closed)."""
    whole = {"page", "entry_page", "exit_page", "goal", "hostname", "event"}
    assert {"browser_version", "os_version", "channel"} <= set(PLAIN_DIMENSIONS)
    for dimension in PLAIN_DIMENSIONS:
        assert is_quasi_identifier(dimension) is (dimension not in whole), dimension
        assert (dimension in QUASI_IDENTIFIERS) is (dimension not in whole), dimension
    assert is_quasi_identifier("prop:plan")
    assert is_quasi_identifier("some_future_dimension")
    assert not is_quasi_identifier("time:hour")


async def test_one_visitors_two_pageviews_are_counted_on_a_new_site(overt: Overt) -> None:
    """At the default k = 5 a site with one visitor still gets its own total and series."""
    await visit(overt, "solo", "/", extra=[overt.event(u="https://example.com/about")])
    await overt.drained()
    response = await ask(overt, metrics=["visitors", "pageviews"])  # served by the rollups
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["results"] == [{"dimensions": [], "metrics": [1, 2]}]
    assert (body["meta"]["k"], body["meta"]["notes"], body["meta"]["guarded"]) == (5, [], [])
    # The same from the events (a session metric is not in the rollups), and per hour.
    assert await rows(overt, metrics=["visitors", "pageviews", "sessions"]) == [[[], [1, 2, 1]]]
    [[_, [visitors]]] = await rows(overt, metrics=["visitors"], dimensions=["time:hour"])
    assert visitors == 1


async def test_a_breakdown_by_page_on_a_small_site_shows_every_page(overt: Overt) -> None:
    for who, path in (("p0", "/"), ("p1", "/docs"), ("p2", "/pricing"), ("p3", "/pricing")):
        await visit(overt, who, path)
    await overt.drained()
    expected = [[["/pricing"], [2, 2]], [["/"], [1, 1]], [["/docs"], [1, 1]]]
    for source in ("rollup", "raw"):
        metrics = ["visitors", "pageviews"] + (["engaged_sessions"] if source == "raw" else [])
        response = await ask(overt, metrics=metrics, dimensions=["page"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["meta"]["source"] == source
        got = [[r["dimensions"], r["metrics"][:2]] for r in body["results"]]
        assert got == expected
        assert (body["meta"]["folded_groups"], body["meta"]["suppressed"]) == (0, False)
    for dimension in ("entry_page", "exit_page"):
        got = await rows(overt, metrics=["visitors"], dimensions=[dimension])
        assert [dims for dims, _ in got] == [["/pricing"], ["/"], ["/docs"]]
    # A filter on a page singles no one out either: /docs's one visitor is answered.
    docs = {"dimension": "page", "op": "is", "values": ["/docs"]}
    assert await rows(overt, metrics=["pageviews"], filters=docs) == [[[], [1]]]


async def test_a_breakdown_by_country_of_four_and_one_folds(geo: Overt) -> None:
    await four_french_one_german(geo)
    response = await ask(geo, metrics=["visitors", "engaged_time_total"], dimensions=["country"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert [[r["dimensions"], r["metrics"]] for r in body["results"]] == [
        [["(other)"], [5, 27_000]]
    ]
    meta = body["meta"]
    assert (meta["folded_groups"], meta["suppressed"], meta["guarded"]) == (2, False, ["country"])
    assert "5 visitors in 2 groups smaller than 5 are shown as (other)" in meta["notes"]
    assert "DE" not in response.text
    assert "FR" not in response.text
    # Pages beside the country: the combination singles out, so it folds too.
    combined = await ask(geo, metrics=["visitors"], dimensions=["page", "country"])
    assert [r["dimensions"] for r in combined.json()["results"]] == [["(other)", "(other)"]]


async def test_a_filter_on_a_quasi_identifier_selecting_fewer_than_k_is_refused(
    geo: Overt,
) -> None:
    await four_french_one_german(geo)
    germany = {"dimension": "country", "op": "is", "values": ["DE"]}
    queries: list[dict[str, Any]] = [
        {"metrics": ["visitors", "engaged_time_total"], "filters": germany},
        {"metrics": ["visitors"], "dimensions": ["page"], "filters": germany},
        {"metrics": ["visitors"], "filters": {"not": germany}},  # leaves out g0
    ]
    for query in queries:
        response = await ask(geo, **query)
        assert_problem(response, 422, "k-anonymity")
        assert "7000" not in response.text
    # A page filter that leaves out one visitor, beside a country breakdown: differencing
    # the two breakdowns would tell that visitor's country, so it is refused too.
    await visit(geo, "x0", "/x", engaged_ms=1_000, headers={COUNTRY: "FR"})
    await geo.drained()
    not_x = {"dimension": "page", "op": "is_not", "values": ["/x"]}
    assert_problem(
        await ask(geo, metrics=["visitors"], dimensions=["country"], filters=not_x),
        422,
        "k-anonymity",
    )
    assert await rows(geo, metrics=["visitors"], filters=not_x) == [[[], [5]]]


async def test_with_k_one_nothing_folds(geo: Overt) -> None:
    await four_french_one_german(geo)
    await store_definition(engine=geo.resources.engine, site_id=geo.site.id, body=DefinitionIn(k=1))
    response = await ask(geo, metrics=["visitors"], dimensions=["country"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert [[r["dimensions"], r["metrics"]] for r in body["results"]] == [
        [["FR"], [4]],
        [["DE"], [1]],
    ]
    assert (body["meta"]["k"], body["meta"]["folded_groups"]) == (1, 0)
    assert body["meta"]["notes"] == [
        "k-anonymity is off for this site (k = 1): small groups are shown as they are"
    ]
    germany = {"dimension": "country", "op": "is", "values": ["DE"]}
    assert await rows(geo, metrics=["visitors"], filters=germany) == [[[], [1]]]


RARE = "https://rare.example/"


async def test_bare_hits_do_not_pad_a_group_up_to_k(overt: Overt) -> None:
    """One real visitor from a rare referrer and k-1 = 4 fake ones (a bare pageview each,
    through the anonymous /e): the group still counts one visitor toward k."""
    await traffic(overt)
    await visit(overt, "victim", "/pricing", referrer=RARE, engaged_ms=31_000)
    for i in range(4):
        await visit(overt, f"fake{i}", "/pricing", referrer=RARE)
    await overt.drained()
    response = await ask(overt, metrics=["visitors", "engaged_time_total"], dimensions=["source"])
    assert response.status_code == 200, response.text
    body = response.json()
    sources = [row["dimensions"][0] for row in body["results"]]
    assert "rare.example" not in sources
    assert "Google" in sources  # six engaged visitors: shown
    assert "31000" not in response.text
    assert body["meta"]["suppressed"] is True  # rare.example + Bing + DDG: one engaged visitor
    rare = {"dimension": "referrer", "op": "is", "values": [RARE]}
    refused = await ask(overt, metrics=["visitors", "engaged_time_total"], filters=rare)
    assert_problem(refused, 422, "k-anonymity")
    assert "31000" not in refused.text
    after = await overt.client.post(
        "/v1/reports/after-the-click",
        json={"site_id": overt.site.id, "date_range": days(), "by": "referrer"},
        headers={"authorization": f"Bearer {overt.key}"},
    )
    assert after.status_code == 200, after.text
    assert RARE not in [row["value"] for row in after.json()["rows"]]
    assert after.json()["notes"]
