"""Rollups on both backends: exact visitor counters kept by the worker (and rebuilt by the
migration), and queries routed to them only when they give the raw answer."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from alembic import command
from sqlalchemy import select

from services.api.stats.query import rollup_eligible
from services.api.stats.schemas import QueryIn
from services.collector.worker import write_events
from shared.migrate import alembic_config, upgrade_head
from shared.models import page_hourly, page_visitor_days, site_hourly, visitor_days
from shared.queue import Delivery
from tests.helpers.overt import Overt
from tests.helpers.traffic import ask, traffic

pytestmark = pytest.mark.anyio

EVERYTHING = {"dimension": "page", "op": "matches", "values": [".*"]}  # forces the raw path


async def both_paths(overt: Overt, **query: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    rollup = (await ask(overt, **query)).json()
    raw = (await ask(overt, filters=EVERYTHING, **query)).json()
    assert (rollup["meta"]["source"], raw["meta"]["source"]) == ("rollup", "raw")
    return rollup, raw


async def test_rollups_give_the_raw_answers(overt: Overt) -> None:
    await traffic(overt)  # see tests/api/test_query_engine.py
    metrics = ["visitors", "pageviews", "engaged_time_total"]
    rollup, raw = await both_paths(overt, metrics=metrics)
    assert rollup["results"] == raw["results"] == [{"dimensions": [], "metrics": [17, 18, 108_000]}]

    rollup, raw = await both_paths(overt, metrics=metrics, dimensions=["page"])
    assert rollup["results"] == raw["results"]
    assert [[r["dimensions"][0], *r["metrics"]] for r in rollup["results"]] == [
        ["/", 6, 6, 21_000],
        ["/pricing", 6, 6, 87_000],
        ["/blog", 5, 5, 0],
        ["/docs", 1, 1, 0],
    ]
    # Pages single no one out: /docs's one visitor is shown on both paths, nothing folds.
    assert rollup["meta"]["suppressed"] is raw["meta"]["suppressed"] is False

    today = datetime.now(UTC).date()
    for unit, label in (("day", today.isoformat()), ("month", today.strftime("%Y-%m"))):
        rollup, raw = await both_paths(overt, metrics=metrics, dimensions=[f"time:{unit}"])
        assert (
            rollup["results"]
            == raw["results"]
            == [{"dimensions": [label], "metrics": [17, 18, 108_000]}]
        )


def _query(**changes: Any) -> QueryIn:
    body: dict[str, Any] = {
        "site_id": "s",
        "metrics": ["visitors", "pageviews"],
        "date_range": ["2026-01-05", "2026-01-11"],
        **changes,
    }
    return QueryIn.model_validate(body)


def test_routing_takes_rollups_only_when_they_are_exact() -> None:
    assert rollup_eligible(_query(), "UTC")
    assert rollup_eligible(_query(dimensions=["time:week"]), "Europe/London")  # GMT in January
    assert rollup_eligible(_query(dimensions=["page"]), "UTC")
    assert not rollup_eligible(_query(), "Europe/Berlin")  # local days are not UTC days
    assert not rollup_eligible(_query(date_range=["2026-03-28", "2026-03-30"]), "Europe/London")
    assert not rollup_eligible(_query(dimensions=["time:hour"]), "UTC")
    assert not rollup_eligible(_query(dimensions=["source"]), "UTC")
    assert not rollup_eligible(_query(metrics=["sessions"]), "UTC")
    assert not rollup_eligible(_query(filters=EVERYTHING), "UTC")


def row(
    site_id: str, at: datetime, visitor: int, path: str, name: str = "pageview"
) -> dict[str, Any]:
    """An event as the collector queues it."""
    return {
        "id": uuid.uuid4().hex,
        "site": site_id,
        "at": int(at.timestamp() * 1000),
        "name": name,
        "visitor": visitor,
        "host": "example.com",
        "path": path,
    }


def entry(*records: dict[str, Any]) -> list[Delivery]:
    return [Delivery(uuid.uuid4().hex, orjson.dumps(list(records)))]


async def counters(overt: Overt) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    async with overt.resources.engine.connect() as conn:
        sites = await conn.execute(select(site_hourly.c.hour, site_hourly.c.visitors))
        pages = await conn.execute(
            select(page_hourly.c.hour, page_hourly.c.path, page_hourly.c.visitors)
        )
        by_hour = {f"{r.hour:%d %H}": int(r.visitors) for r in sites}
        by_page = {(f"{r.hour:%d %H}", r.path): int(r.visitors) for r in pages}
    return by_hour, by_page


async def test_the_worker_counts_each_visitor_once_per_day_in_its_first_hour(
    overt: Overt,
) -> None:
    site = overt.site.id
    engine = overt.resources.engine
    day = datetime(2026, 3, 2, tzinfo=UTC)
    at = [day + timedelta(hours=9), day + timedelta(hours=10), day + timedelta(days=1, hours=9)]
    # Batch 1: visitor 1 at 9:00 on / and /a, at 10:00 on / again; visitor 2 at 10:00 on /.
    await write_events(
        engine=engine,
        deliveries=entry(
            row(site, at[0], 1, "/"),
            row(site, at[0], 1, "/a"),
            row(site, at[1], 1, "/"),
            row(site, at[1], 2, "/"),
        ),
    )
    # Batch 2, same day: visitor 1 again (nothing new), visitor 2 first on /a, and on /g
    # through a goal alone (no pageview there: the page row is made for the count).
    await write_events(
        engine=engine,
        deliveries=entry(
            row(site, at[1], 1, "/a"),
            row(site, at[1], 2, "/a"),
            row(site, at[1], 2, "/g", name="Signup"),
        ),
    )
    # Next day: a new salt, a new hash (3) for whoever it is.
    await write_events(engine=engine, deliveries=entry(row(site, at[2], 3, "/")))
    by_hour, by_page = await counters(overt)
    assert by_hour == {"02 09": 1, "02 10": 1, "03 09": 1}
    assert by_page == {
        ("02 09", "/"): 1,
        ("02 09", "/a"): 1,
        ("02 10", "/"): 1,
        ("02 10", "/a"): 1,
        ("02 10", "/g"): 1,
        ("03 09", "/"): 1,
    }
    # The per-day sets keep only the day before the latest batch's earliest event onwards.
    async with engine.connect() as conn:
        kept = set((await conn.execute(select(visitor_days.c.day))).scalars())
        pages_kept = set((await conn.execute(select(page_visitor_days.c.day))).scalars())
    assert kept == pages_kept == {day.date(), (day + timedelta(days=1)).date()}


async def test_the_migration_rebuilds_the_same_counters(overt: Overt) -> None:
    await traffic(overt)
    before = await counters(overt)
    assert sum(before[0].values()) == 17
    config = alembic_config(overt.resources.settings)
    await overt.resources.engine.dispose()
    await asyncio.to_thread(command.downgrade, config, "0200")
    await asyncio.to_thread(upgrade_head, overt.resources.settings)
    assert await counters(overt) == before
