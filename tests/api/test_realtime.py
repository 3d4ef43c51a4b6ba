"""Realtime on both backends: current visitors (5 minutes), the last 30 minutes' pages and
sources, sources folded under k."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from tests.helpers.overt import Overt
from tests.helpers.problems import assert_problem
from tests.helpers.traffic import BING, GOOGLE, agent

pytestmark = pytest.mark.anyio


async def recent_traffic(overt: Overt) -> None:
    """g0..g5 from Google on /pricing 2 minutes ago, engaged; c0..c2 from Bing on /blog 20
    minutes ago (bare hits); d0 direct on / now, engaged; o0 on /old 45 minutes ago."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)

    async def visit(
        who: str, path: str, minutes_ago: int, referrer: str | None, engaged: bool
    ) -> None:
        at = now_ms - minutes_ago * 60_000
        view = overt.event(u=f"https://example.com{path}", r=referrer, t=at)
        batch: list[dict[str, object]] = [view]
        if engaged:
            batch.append(
                overt.event(
                    n="engagement", u=f"https://example.com{path}", v=view["i"], e=15_000, t=at
                )
            )
        assert (await overt.send(batch, **agent(who))).status_code == 202

    for i in range(6):
        await visit(f"g{i}", "/pricing", 2, GOOGLE, True)
    for i in range(3):
        await visit(f"c{i}", "/blog", 20, BING, False)
    await visit("d0", "/", 0, None, True)
    await visit("o0", "/old", 45, None, True)
    await overt.drained()


async def now_on(overt: Overt, **params: Any) -> dict[str, Any]:
    response = await overt.client.get(
        f"/v1/sites/{overt.site.id}/realtime",
        params=params,
        headers={"authorization": f"Bearer {overt.key}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def pairs(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(row["value"], row["visitors"]) for row in rows]


async def test_current_visitors_pages_and_folded_sources(overt: Overt) -> None:
    await recent_traffic(overt)
    body = await now_on(overt)
    assert body["visitors"] == 7  # g0..g5 and d0; c0..c2 were 20 minutes ago
    assert pairs(body["pages"]) == [("/pricing", 6), ("/blog", 3), ("/", 1)]
    # Bing (3 bare hits) and Direct (1) are under k = 5 and fold; together they count one
    # engaged visitor, under k too: (other) is left out.
    assert pairs(body["sources"]) == [("Google", 6)]
    assert body["k"] == 5
    assert body["notes"][0] == (
        "2 groups smaller than 5 are left out: even together they are fewer than 5 visitors"
    )
    assert pairs((await now_on(overt, limit=1))["pages"]) == [("/pricing", 6)]

    await store_definition(
        engine=overt.resources.engine, site_id=overt.site.id, body=DefinitionIn(k=1)
    )
    body = await now_on(overt)
    assert pairs(body["sources"]) == [("Google", 6), ("Bing", 3), ("Direct", 1)]
    assert body["notes"] == [
        "k-anonymity is off for this site (k = 1): small groups are shown as they are"
    ]


async def test_a_folded_other_row_is_shown_when_it_reaches_k(overt: Overt) -> None:
    await store_definition(
        engine=overt.resources.engine, site_id=overt.site.id, body=DefinitionIn(k=3)
    )
    await recent_traffic(overt)
    body = await now_on(overt)
    # k = 3: Bing's 3 are bare hits (none counts), Direct 1: both fold; (other) has 4
    # visitors but only d0 counts toward k: left out.
    assert pairs(body["sources"]) == [("Google", 6)]
    await store_definition(
        engine=overt.resources.engine, site_id=overt.site.id, body=DefinitionIn(k=2)
    )
    # e0, e1 engaged from Bing (Bing counts 2 now); x0 engaged from DuckDuckGo (1).
    for who, referrer in (("e0", BING), ("e1", BING), ("x0", "https://duckduckgo.com/")):
        view = overt.event(u="https://example.com/blog", r=referrer)
        engaged = overt.event(n="engagement", u="https://example.com/blog", v=view["i"], e=9000)
        assert (await overt.send([view, engaged], **agent(who))).status_code == 202
    await overt.drained()
    body = await now_on(overt)
    # k = 2: Direct (d0) and DuckDuckGo (x0) fold; together they count 2: (other) is shown.
    assert pairs(body["sources"]) == [("Google", 6), ("Bing", 5), ("(other)", 2)]
    assert body["notes"][0] == "2 visitors in 2 groups smaller than 2 are shown as (other)"


async def test_realtime_needs_the_sites_stats_key(overt: Overt) -> None:
    response = await overt.client.get(
        "/v1/sites/someone-else/realtime", headers={"authorization": f"Bearer {overt.key}"}
    )
    assert_problem(response, 403, "wrong-site")
    assert_problem(
        await overt.client.get(f"/v1/sites/{overt.site.id}/realtime"), 401, "api-key-required"
    )
