"""Goals on both backends: registered over the API, and one definition of "reached goal G"
behind the goal dimension, goal filters, conversion rates, funnels and revenue.

The conversion tests count `traffic` (tests/api/test_query_engine.py's docstring): 17
sessions of 17 visitors; a0..a5 (Google) view /pricing, a0..a4 also send Signup (plan=pro).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from tests.helpers.overt import Overt
from tests.helpers.people import definitions_key
from tests.helpers.problems import assert_problem
from tests.helpers.traffic import ask, days, rows, traffic, visit

pytestmark = pytest.mark.anyio


async def add_goal(overt: Overt, key: str, **goal: Any) -> httpx.Response:
    return await overt.client.post(
        f"/v1/sites/{overt.site.id}/goals", json=goal, headers={"authorization": f"Bearer {key}"}
    )


async def list_goals(overt: Overt) -> dict[str, Any]:
    response = await overt.client.get(
        f"/v1/sites/{overt.site.id}/goals", headers={"authorization": f"Bearer {overt.key}"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def funnel(overt: Overt, steps: list[dict[str, str]]) -> list[dict[str, Any]]:
    response = await overt.client.post(
        "/v1/reports/funnel",
        json={"site_id": overt.site.id, "date_range": days(), "steps": steps},
        headers={"authorization": f"Bearer {overt.key}"},
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["steps"]
    return found


def goal_is(*names: str) -> dict[str, Any]:
    return {"dimension": "goal", "op": "is", "values": list(names)}


async def test_goals_are_registered_listed_and_deleted(overt: Overt) -> None:
    key = await definitions_key(overt)
    assert await list_goals(overt) == {"goals": [], "implicit": True}
    made = await add_goal(overt, key, page="/thank-you")
    assert made.status_code == 201, made.text
    page_goal = made.json()
    assert (page_goal["name"], page_goal["page"], page_goal["event"]) == (
        "Visit /thank-you",
        "/thank-you",
        None,
    )
    made = await add_goal(overt, key, event="Purchase", currency="eur", props={"plan": "pro"})
    assert made.status_code == 201, made.text
    assert (made.json()["name"], made.json()["currency"]) == ("Purchase", "EUR")
    longest = "/" + "p" * 255  # its default name, "Visit /ppp...", is 262 characters
    assert (await add_goal(overt, key, page=longest)).status_code == 201
    listed = await list_goals(overt)
    assert listed["implicit"] is False
    assert [g["name"] for g in listed["goals"]] == [
        "Purchase",
        f"Visit {longest}",
        "Visit /thank-you",
    ]
    assert listed["goals"][0]["props"] == {"plan": "pro"}

    # The same name twice, both kinds or none, a made-up currency, props on a page goal.
    assert_problem(await add_goal(overt, key, event="Purchase"), 409, "goal-name-taken")
    for bad in (
        {"page": "/a", "event": "b"},
        {},
        {"event": "Order", "currency": "XYZ"},
        {"page": "/a", "props": {"k": "v"}},
        {"page": "no-slash"},
        {"event": "x", "props": {"bad key!": "v"}},
    ):
        assert_problem(await add_goal(overt, key, **bad), 422, "validation-error")
    # Reading goals does not let a key write them.
    assert_problem(await add_goal(overt, overt.key, event="Other"), 403, "missing-scope")

    url = f"/v1/sites/{overt.site.id}/goals/{page_goal['id']}"
    headers = {"authorization": f"Bearer {key}"}
    assert (await overt.client.delete(url, headers=headers)).status_code == 204
    assert_problem(await overt.client.delete(url, headers=headers), 404, "goal-not-found")
    assert len((await list_goals(overt))["goals"]) == 2


async def test_registered_goals_replace_custom_events_as_goals(overt: Overt) -> None:
    await traffic(overt)
    # No goals registered: every custom event is a goal under its name (as before goals).
    assert await rows(overt, metrics=["conversions"], dimensions=["goal"]) == [[["Signup"], [5]]]
    key = await definitions_key(overt)
    assert (await add_goal(overt, key, page="/pricing")).status_code == 201
    # Registered goals only: Signup, not registered, converts nothing now.
    assert await rows(overt, metrics=["visitors", "conversions"], dimensions=["goal"]) == [
        [["Visit /pricing"], [6, 6]]
    ]
    assert await rows(overt, metrics=["conversions"]) == [[[], [6]]]
    assert await rows(overt, metrics=["visitors"], filters=goal_is("Signup")) == [[[], [0]]]
    assert (await add_goal(overt, key, event="Signup", props={"plan": "pro"})).status_code == 201
    assert (
        await add_goal(overt, key, name="Free signup", event="Signup", props={"plan": "free"})
    ).status_code == 201
    assert await rows(overt, metrics=["visitors", "conversions"], dimensions=["goal"]) == [
        [["Visit /pricing"], [6, 6]],
        [["Signup"], [5, 5]],
    ]


async def test_goal_filter_conversion_rate_matches_the_goal_dimension_and_the_funnel(
    overt: Overt,
) -> None:
    await traffic(overt)
    # b0..b2 also click an outbound link (a built-in event: a goal only once registered).
    for i in range(3):
        outbound = overt.event(n="outbound", u="https://example.com/", p={"url": "https://x.org/"})
        await visit(overt, f"b{i}", "/", extra=[outbound])
    await overt.drained()
    # b0..b2 come back within 30 minutes: the same 17 sessions.
    assert await rows(overt, metrics=["sessions"]) == [[[], [17]]]
    metrics = ["visitors", "sessions", "conversions", "conversion_rate"]
    assert await rows(overt, metrics=["visitors"], filters=goal_is("outbound")) == [[[], [0]]]
    assert (await funnel(overt, [{"goal": "outbound"}, {"page": "/**"}]))[0]["sessions"] == 0

    key = await definitions_key(overt)
    for goal in ({"event": "Signup"}, {"event": "outbound"}, {"page": "/pricing"}):
        assert (await add_goal(overt, key, **goal)).status_code == 201
    by_goal = {
        dims[0]: values for dims, values in await rows(overt, metrics=metrics, dimensions=["goal"])
    }
    assert by_goal == {
        "Visit /pricing": [6, 6, 6, round(6 / 17, 4)],
        "Signup": [5, 5, 5, round(5 / 17, 4)],
        "outbound": [3, 3, 3, round(3 / 17, 4)],
    }
    for name, expected in by_goal.items():
        # Under a goal filter: the goal's converting sessions over every session (it read
        # 1.0 before: the filter left only converting sessions to divide by).
        assert await rows(overt, metrics=metrics, filters=goal_is(name)) == [[[], expected]]
        # A funnel's goal step counts what the filter counts.
        first = (await funnel(overt, [{"goal": name}, {"page": "/**"}]))[0]
        assert [first["visitors"], first["sessions"]] == expected[:2]
    # Two goals: sessions that reached either; a goal filter inside a larger tree.
    either = await rows(overt, metrics=metrics, filters=goal_is("Signup", "outbound"))
    assert either == [[[], [8, 8, 8, round(8 / 17, 4)]]]
    tree = {"and": [goal_is("Signup"), {"dimension": "page", "op": "is", "values": ["/pricing"]}]}
    # The base drops only the goal test: sessions with a /pricing event, a0..a5.
    assert await rows(overt, metrics=["conversion_rate"], filters=tree) == [[[], [round(5 / 6, 4)]]]


async def test_group_conversion_rate_divides_by_each_group(overt: Overt) -> None:
    await traffic(overt)
    await store_definition(
        engine=overt.resources.engine, site_id=overt.site.id, body=DefinitionIn(k=1)
    )
    metrics = ["conversions", "conversion_rate", "group_conversion_rate"]
    # Without goal filters, the group rate is each source's own; conversion_rate is over all.
    by_source = await rows(overt, metrics=metrics, dimensions=["source"])
    assert by_source == [
        [["Google"], [5, round(5 / 17, 4), round(5 / 6, 4)]],
        [["Bing"], [0, 0.0, 0.0]],
        [["Direct"], [0, 0.0, 0.0]],
        [["DuckDuckGo"], [0, 0.0, 0.0]],
    ]
    # Under a goal filter only Google converted: 5 of its 6 sessions, 5 of all 17.
    assert await rows(overt, metrics=metrics, dimensions=["source"], filters=goal_is("Signup")) == [
        [["Google"], [5, round(5 / 17, 4), round(5 / 6, 4)]]
    ]
    # By goal and source: the group is the source.
    assert await rows(overt, metrics=metrics, dimensions=["goal", "source"]) == [
        [["Signup", "Google"], [5, round(5 / 17, 4), round(5 / 6, 4)]]
    ]


async def test_page_goal_wildcards(overt: Overt) -> None:
    await store_definition(
        engine=overt.resources.engine, site_id=overt.site.id, body=DefinitionIn(k=1)
    )
    paths = ["/blog", "/blog/intro", "/blog/2026/hello", "/a.b", "/axb", "/blog/intro/"]
    for i, path in enumerate(paths):
        await visit(overt, f"v{i}", path)
    await overt.drained()
    key = await definitions_key(overt)
    for pattern in ("/blog/*", "/blog/**", "/a.b", "/*", "/blog/*/"):
        assert (await add_goal(overt, key, page=pattern)).status_code == 201
    found = await rows(
        overt,
        metrics=["visitors"],
        dimensions=["goal"],
        order_by=[{"field": "goal", "direction": "asc"}],
    )
    assert found == [
        [["Visit /*"], [3]],  # /blog, /a.b, /axb: one segment
        [["Visit /a.b"], [1]],  # the dot is a dot
        [["Visit /blog/*"], [1]],  # /blog/intro
        [["Visit /blog/**"], [3]],  # below /blog/, at any depth
        [["Visit /blog/*/"], [1]],  # /blog/intro/
    ]


async def test_revenue_in_the_goals_currency(overt: Overt) -> None:
    await store_definition(
        engine=overt.resources.engine, site_id=overt.site.id, body=DefinitionIn(k=1)
    )
    purchases: list[tuple[str, object, str]] = [
        ("Purchase", 10, "EUR"),
        ("Purchase", 5.5, "EUR"),
        ("Purchase", 7, "USD"),  # not the goal's currency: no revenue (no exchange rates)
        ("Purchase", "lots", "EUR"),  # sent as a plain prop: not a number, never cast
        ("Order", 20, "USD"),
    ]
    for i, (name, amount, currency) in enumerate(purchases):
        props = {"revenue_amount": amount, "revenue_currency": currency}
        await visit(overt, f"r{i}", "/checkout", extra=[overt.event(n=name, p=props)])
    await overt.drained()
    key = await definitions_key(overt)
    for goal in (
        {"event": "Purchase", "currency": "EUR"},
        {"event": "Order", "currency": "USD"},
        {"page": "/checkout"},
    ):
        assert (await add_goal(overt, key, **goal)).status_code == 201
    metrics = ["conversions", "total_revenue", "average_revenue"]
    by_goal = await rows(overt, metrics=metrics, dimensions=["goal"])
    assert by_goal == [
        [["Visit /checkout"], [5, None, None]],
        [["Purchase"], [4, 15.5, 7.75]],
        [["Order"], [1, 20.0, 20.0]],
    ]
    assert await rows(overt, metrics=metrics, filters=goal_is("Purchase")) == [
        [[], [4, 15.5, 7.75]]
    ]
    # Euros and dollars are not added up.
    problem = assert_problem(await ask(overt, metrics=["total_revenue"]), 422, "mixed-currencies")
    assert "EUR, USD" in str(problem["detail"])
    assert await rows(overt, metrics=["total_revenue"], filters=goal_is("Order")) == [[[], [20.0]]]


async def test_goal_routes_take_only_their_sites_key(overt: Overt) -> None:
    key = await definitions_key(overt)
    response = await overt.client.get(
        "/v1/sites/other-site/goals", headers={"authorization": f"Bearer {key}"}
    )
    assert_problem(response, 403, "wrong-site")
