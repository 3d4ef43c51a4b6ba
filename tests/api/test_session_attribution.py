"""Events carry their session's attribution (written by ingest, rebuilt by migration 0301),
and the k-anonymity check's early-stopping sample never changes its verdict.

Traffic, sent through POST /e and the worker (k = 2):

    g0, g1: land on /pricing?utm_campaign=spring from Google, then (a later request) open
            /docs from /pricing (an internal referrer) and report 5 s there.
    d0, d1: direct, on / only, and report 1 s there (engaged time, so they count toward k).

So the sessions' source is Google for g*, Direct for d*; the /docs pageviews' own source is
Internal. 4 visitors, 6 pageviews, 4 engagement events.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from services.api.stats import query as query_engine
from shared.migrate import alembic_config, upgrade_head
from shared.models import events
from tests.helpers.overt import Overt
from tests.helpers.problems import assert_problem
from tests.helpers.traffic import agent, ask, rows

pytestmark = pytest.mark.anyio

GOOGLE = "https://www.google.com/"
RARE = "https://rare.example/"
CARRIED = [
    "session_entry_path",
    "session_referrer",
    "session_source",
    "session_medium",
    "session_utm_source",
    "session_utm_medium",
    "session_utm_campaign",
]


async def traffic(overt: Overt) -> None:
    await store_definition(
        engine=overt.resources.engine, site_id=overt.site.id, body=DefinitionIn(k=2)
    )
    for who in ("g0", "g1"):
        landing = overt.event(u="https://example.com/pricing?utm_campaign=spring", r=GOOGLE)
        assert (await overt.send([landing], **agent(who))).status_code == 202
        await overt.drained()  # the next pageview finds the session stored, not in its batch
        docs = overt.event(u="https://example.com/docs", r="https://example.com/pricing")
        engagement = overt.event(n="engagement", u="https://example.com/docs", v=docs["i"], e=5000)
        assert (await overt.send([docs, engagement], **agent(who))).status_code == 202
    for who in ("d0", "d1"):
        home = overt.event(u="https://example.com/")
        engagement = overt.event(n="engagement", u="https://example.com/", v=home["i"], e=1000)
        assert (await overt.send([home, engagement], **agent(who))).status_code == 202
    await overt.drained()


async def stored(overt: Overt) -> list[dict[str, Any]]:
    columns = [events.c.name, events.c.path, events.c.source, *(events.c[n] for n in CARRIED)]
    async with overt.resources.engine.connect() as conn:
        result = await conn.execute(select(*columns).order_by(events.c.occurred_at))
        return [dict(row._mapping) for row in result]


async def test_ingest_copies_the_session_attribution_onto_every_event(overt: Overt) -> None:
    await traffic(overt)
    rows_ = await stored(overt)
    assert len(rows_) == 10
    google = [row for row in rows_ if row["path"] != "/"]
    direct = [row for row in rows_ if row["path"] == "/"]
    assert sorted((row["name"], row["path"], row["source"]) for row in google) == [
        ("engagement", "/docs", None),
        ("engagement", "/docs", None),
        ("pageview", "/docs", "Internal"),
        ("pageview", "/docs", "Internal"),
        ("pageview", "/pricing", "Google"),
        ("pageview", "/pricing", "Google"),
    ]
    for row in google:
        assert row["session_entry_path"] == "/pricing"
        assert row["session_source"] == "Google"
        assert row["session_medium"] == "search"
        assert row["session_utm_campaign"] == "spring"
        assert row["session_utm_source"] is None
        assert row["session_referrer"] is not None
        assert row["session_referrer"].startswith("https://www.google.com")
    for row in direct:
        assert (row["session_entry_path"], row["session_source"]) == ("/", "Direct")
        assert (row["session_medium"], row["session_referrer"]) == ("direct", None)


async def test_queries_read_the_session_source_of_every_event(overt: Overt) -> None:
    await traffic(overt)
    google = {"dimension": "source", "op": "is", "values": ["Google"]}
    # /docs was reached internally, yet its sessions came from Google.
    assert await rows(
        overt, metrics=["visitors", "pageviews"], dimensions=["page"], filters=google
    ) == [[["/docs"], [2, 2]], [["/pricing"], [2, 2]]]
    assert await rows(
        overt,
        metrics=["sessions", "engaged_sessions", "engaged_time_total"],
        dimensions=["utm_campaign"],
        filters={"dimension": "page", "op": "matches", "values": [".*"]},
    ) == [[["(none)"], [2, 0, 2000]], [["spring"], [2, 2, 10_000]]]
    assert await rows(
        overt,
        metrics=["visitors"],
        dimensions=["entry_page"],
        filters={"dimension": "page", "op": "is", "values": ["/docs", "/"]},
    ) == [[["/"], [2]], [["/pricing"], [2]]]


async def test_the_migration_fills_the_columns_of_stored_events(overt: Overt) -> None:
    await traffic(overt)
    before = await stored(overt)
    config = alembic_config(overt.resources.settings)
    await overt.resources.engine.dispose()
    await asyncio.to_thread(command.downgrade, config, "0300")
    await asyncio.to_thread(upgrade_head, overt.resources.settings)
    after = await stored(overt)
    assert sorted(after, key=repr) == sorted(before, key=repr)
    assert sum(row["session_source"] == "Google" for row in after) == 6


async def test_the_k_check_sample_never_changes_the_verdict(
    overt: Overt, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a one-event sample, every side that has events is counted again in full: the
    verdicts are the exact counts' (x0 alone from rare.example: 1 visitor, refused on either
    side)."""
    await traffic(overt)
    about = overt.event(u="https://example.com/about", r=RARE)
    engagement = overt.event(n="engagement", u="https://example.com/about", v=about["i"], e=3000)
    assert (await overt.send([about, engagement], **agent("x0"))).status_code == 202
    await overt.drained()
    monkeypatch.setattr(query_engine, "k_check_sample", lambda k: 1)
    google = {"dimension": "source", "op": "is", "values": ["Google"]}
    assert await rows(overt, metrics=["visitors"], filters=google) == [[[], [2]]]
    spring = {"dimension": "utm_campaign", "op": "is", "values": ["spring"]}
    assert await rows(overt, metrics=["pageviews"], filters=spring) == [[[], [4]]]
    only_x0 = {"dimension": "referrer", "op": "contains", "values": ["rare.example"]}
    for filters in (only_x0, {"not": only_x0}):
        problem = assert_problem(
            await ask(overt, metrics=["visitors"], filters=filters), 422, "k-anonymity"
        )
        assert "fewer than k visitors" in str(problem["detail"])


async def test_a_missing_value_is_none_in_every_spelling_of_a_filter(overt: Overt) -> None:
    """d0 and d1 have no campaign: "(none)" for is / is_not, and a not(...) is the exact
    complement (SQL's NULL must not drop them from either side)."""
    await traffic(overt)
    spring = {"dimension": "utm_campaign", "op": "is", "values": ["spring"]}
    expected = [
        ({"dimension": "utm_campaign", "op": "is", "values": ["(none)"]}, 2),
        ({"dimension": "utm_campaign", "op": "is_not", "values": ["spring"]}, 2),
        ({"not": spring}, 2),
        ({"dimension": "utm_campaign", "op": "is_not", "values": ["(none)"]}, 2),
        ({"not": {"dimension": "utm_campaign", "op": "is_not", "values": ["(none)"]}}, 2),
        ({"dimension": "utm_campaign", "op": "is", "values": ["spring", "(none)"]}, 4),
        ({"dimension": "utm_campaign", "op": "is_not", "values": ["spring", "(none)"]}, 0),
        ({"dimension": "utm_source", "op": "is_not", "values": ["anything"]}, 4),
    ]
    for filters, visitors in expected:
        assert await rows(overt, metrics=["visitors"], filters=filters) == [[[], [visitors]]], (
            filters
        )
