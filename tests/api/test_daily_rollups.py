"""The daily rollups answer exactly what the events answer: hypothesis-generated traffic
(sessions of several pageviews, engagement reports, goals, a visitor coming back through
another source, sessions whose engagement report lands after midnight) and generated
queries, on both backends, with some days rebuilt and others left dirty; every query the
daily path accepts gives the raw path's rows, meta and refusals (FORCE_RAW)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import available_timezones

import orjson
import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import answering_definition, store_definition
from services.api.goals.service import goal_set
from services.api.stats.daily import (
    ROLLED,
    DayRow,
    build_rows,
    daily_plan,
    refresh_daily,
    scan_slices,
    slice_rows,
)
from services.api.stats.exceptions import KAnonymityRefused
from services.api.stats.query import FORCE_RAW, answer_query
from services.api.stats.schemas import QueryIn, QueryOut
from services.collector.worker import write_events
from shared.migrate import alembic_config, upgrade_head
from shared.models import daily_dirty, daily_stats
from shared.partitions import add_months, apply_retention
from shared.queue import Delivery
from shared.sites import SiteSettings, create_site, update_site
from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio

FIRST = date(2026, 3, 1)
# Three UTC days of traffic from one of these: a plain day, then days around the clock
# changes of the United States (March 8, November 1) and the European Union (March 29,
# October 25).
FIRSTS = [FIRST, date(2026, 3, 7), date(2026, 3, 28), date(2026, 10, 24), date(2026, 10, 31)]
# Zones whose local days are cut oddly: offsets of :30 and :45, +14 and -11, clock changes
# at midnight (Havana, Beirut, Santiago), a half-hour change (Lord Howe).
ODD_ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Europe/London",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/St_Johns",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "America/Havana",
    "Asia/Beirut",
    "America/Santiago",
    "Australia/Lord_Howe",
]
zone = st.one_of(
    st.just("UTC"), st.sampled_from(ODD_ZONES), st.sampled_from(sorted(available_timezones()))
)
SOURCES = [None, "Google", "Bing"]
COUNTRIES = [None, "DE", "FR"]
DEVICES = [("desktop", "Firefox", "Linux"), ("mobile", "Safari", "iOS")]
PAGES = ["/", "/a", "/b"]


def seconds(n: int) -> int:
    return n * 1000


visit = st.fixed_dictionaries(
    {
        "day": st.integers(0, 2),
        "second": st.one_of(st.integers(0, 86_399), st.integers(86_300, 86_399)),
        "visitor": st.integers(0, 5),
        "source": st.sampled_from(SOURCES),
        "country": st.sampled_from(COUNTRIES),
        "device": st.sampled_from(DEVICES),
        "pages": st.lists(st.sampled_from(PAGES), min_size=1, max_size=3),
        "engaged": st.lists(st.one_of(st.none(), st.integers(0, 30).map(seconds)), max_size=3),
        "goal": st.booleans(),
        "again": st.one_of(st.none(), st.sampled_from(SOURCES)),  # a second session
    }
)
dimension = st.sampled_from([[], ["time:day"], ["time:month"], *([d] for d in ROLLED)])
condition = st.one_of(
    st.none(),
    st.builds(
        lambda d, v: {"dimension": d, "op": "is", "values": [v]},
        st.sampled_from(["country", "source"]),
        st.sampled_from(["DE", "FR", "Google", "Bing", "(none)"]),
    ),
)
metrics = st.lists(
    st.sampled_from(
        [
            "visitors",
            "visits",
            "pageviews",
            "views_per_visit",
            "bounce_rate",
            "visit_duration",
            "engaged_time_total",
            "events",
            "percentage",
        ]
    ),
    min_size=1,
    max_size=5,
    unique=True,
)
query = st.fixed_dictionaries(
    {
        "metrics": metrics,
        "dimensions": dimension,
        "filters": condition,
        # Local days from the one before the first UTC day to the one after the last.
        "date_range": st.tuples(st.integers(-1, 3), st.integers(0, 4)).map(
            lambda pair: (pair[0], max(pair[0], pair[1] - 1))
        ),
        "comparisons": st.sampled_from([None, {"mode": "previous_period"}]),
    }
)


def make_event(
    common: dict[str, Any], visitor: int, name: str, moment: datetime, path: str, **extra: Any
) -> dict[str, Any]:
    day = (moment.date() - date(2026, 1, 1)).days
    return {
        **common,
        "id": uuid.uuid4().hex,
        "at": int(moment.timestamp() * 1000),
        "name": name,
        "visitor": 1_000 * day + visitor,
        "path": path,
        **extra,
    }


def records(
    site_id: str, visits: list[dict[str, Any]], first: date = FIRST
) -> list[dict[str, Any]]:
    """The events of the visits on the three UTC days from `first`, as the collector queues
    them; a visitor hash lives one UTC day (as the daily salt makes it), so an engagement
    report after midnight has the next day's."""
    out = []
    for n, v in enumerate(visits):
        visitor = v["visitor"] + 10 * (n % 3)
        sessions = [(v["second"], v["source"])]
        if v["again"] is not None and v["second"] >= 3600:
            sessions.append((v["second"] - 3600, v["again"]))
        for start, source in sessions:
            at = datetime.combine(first + timedelta(days=v["day"]), datetime.min.time(), UTC)
            at += timedelta(seconds=start)
            device, browser, os_name = v["device"]
            common = {
                "site": site_id,
                "host": "example.com",
                "source": source,
                "country": v["country"],
                "device": device,
                "browser": browser,
                "os": os_name,
            }
            for i, path in enumerate(v["pages"]):
                pageview = make_event(common, visitor, "pageview", at, path)
                out.append(pageview)
                engaged = v["engaged"][i] if i < len(v["engaged"]) else None
                if engaged is not None:
                    at += timedelta(seconds=7)
                    out.append(
                        make_event(
                            common,
                            visitor,
                            "engagement",
                            at,
                            path,
                            engaged_ms=engaged,
                            pageview=pageview["id"],
                            scroll=50,
                        )
                    )
                at += timedelta(seconds=11)
            if v["goal"]:
                out.append(make_event(common, visitor, "Signup", at, "/a"))
    return sorted(out, key=lambda r: r["at"])


async def outcome(engine: Any, body: dict[str, Any], *, raw: bool) -> QueryOut | str:
    token = FORCE_RAW.set(raw)
    try:
        return await answer_query(engine=engine, query=QueryIn.model_validate(body), timeout_s=30)
    except KAnonymityRefused as refused:
        return str(refused.detail)
    finally:
        FORCE_RAW.reset(token)


@pytest.mark.timeout(900)  # examples of a fresh site, its traffic and its queries
@settings(
    # Each example builds a site, its traffic and its rollups: 12 (seeded) keep this test
    # under a minute a backend in make test (the odd zones and clock-change days are drawn
    # as often as any other).
    max_examples=12,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    visits=st.lists(visit, min_size=1, max_size=12),
    queries=st.lists(query, min_size=1, max_size=6),
    rebuilt=st.booleans(),
    k=st.sampled_from([1, 2, 5]),
    timezone=zone,
    first_day=st.sampled_from(FIRSTS),
)
async def test_the_daily_rollups_answer_as_the_events_do(
    overt: Overt,
    visits: list[dict[str, Any]],
    queries: list[dict[str, Any]],
    rebuilt: bool,
    k: int,
    timezone: str,
    first_day: date,
) -> None:
    """In any zone (local days across two UTC days, clock changes), for any range of local
    days."""
    engine = overt.resources.engine
    site = await create_site(
        engine=engine, domain=f"{uuid.uuid4().hex[:12]}.example", timezone=timezone
    )
    if k != 5:  # the default
        with_k = DefinitionIn.model_validate({"k": k})
        await store_definition(engine=engine, site_id=site.id, body=with_k)
    rows = records(site.id, visits, first_day)
    for start in range(0, len(rows), 7):  # several batches: sessions continue across them
        entry = [Delivery(uuid.uuid4().hex, orjson.dumps(rows[start : start + 7]))]
        await write_events(engine=engine, deliveries=entry)
    if rebuilt:
        await refresh_daily(engine, include_today=True)
        # A late event makes its day dirty again: that day is read from the events.
        late_visit = {**visits[0], "pages": ["/b"], "engaged": [], "goal": False}
        late = records(site.id, [late_visit], first_day)
        await write_events(
            engine=engine, deliveries=[Delivery(uuid.uuid4().hex, orjson.dumps(late))]
        )
    for asked in queries:
        first, last = asked["date_range"]
        body = {
            **{key: value for key, value in asked.items() if value is not None},
            "site_id": site.id,
            "date_range": [
                (first_day + timedelta(days=first)).isoformat(),
                (first_day + timedelta(days=last)).isoformat(),
            ],
        }
        if daily_plan(QueryIn.model_validate(body), timezone) is None:
            continue
        rolled, raw = await outcome(engine, body, raw=False), await outcome(engine, body, raw=True)
        if isinstance(rolled, QueryOut) and isinstance(raw, QueryOut):
            assert rolled.results == raw.results, body
            assert rolled.meta.notes == raw.meta.notes
            assert rolled.meta.total_rows == raw.meta.total_rows
            # Only a group under k (k > 1) sends an accepted query to the events.
            assert rolled.meta.source == "rollup" or k > 1
        else:
            assert rolled == raw, body


async def marks(engine: Any, site_id: str) -> dict[date, int]:
    async with engine.connect() as conn:
        found = await conn.execute(
            select(daily_dirty.c.day, daily_dirty.c.generation).where(
                daily_dirty.c.site_id == site_id
            )
        )
        return {row.day: int(row.generation) for row in found}


async def stored_days(engine: Any, site_id: str) -> set[date]:
    async with engine.connect() as conn:
        found = await conn.execute(
            select(daily_stats.c.day).where(daily_stats.c.site_id == site_id).distinct()
        )
        return set(found.scalars())


def one_visit(site_id: str, moment: datetime, visitor: int) -> list[Delivery]:
    common = {"site": site_id, "host": "example.com", "source": "Google", "country": "DE"}
    event = make_event(common, visitor, "pageview", moment, "/")
    event["visitor"] = visitor  # the caller's hash, whatever the day
    return [Delivery(uuid.uuid4().hex, orjson.dumps([event]))]


async def test_the_worker_marks_days_and_a_rebuild_clears_only_what_it_read(
    overt: Overt,
) -> None:
    engine = overt.resources.engine
    site = overt.site.id
    now = datetime.now(UTC).replace(microsecond=0)
    yesterday = now - timedelta(days=1)
    await write_events(engine=engine, deliveries=one_visit(site, yesterday, 1))
    await write_events(engine=engine, deliveries=one_visit(site, now, 2))
    assert await marks(engine, site) == {yesterday.date(): 1, now.date(): 1}
    # A second batch on a day bumps its generation.
    await write_events(engine=engine, deliveries=one_visit(site, now, 3))
    assert await marks(engine, site) == {yesterday.date(): 1, now.date(): 2}

    # The background rebuild leaves today to the events; `overt rollups` takes it too.
    assert await refresh_daily(engine) == 1
    assert await marks(engine, site) == {now.date(): 2}
    assert await stored_days(engine, site) == {yesterday.date()}
    assert await refresh_daily(engine, include_today=True) == 1
    assert await marks(engine, site) == {}
    assert await stored_days(engine, site) == {yesterday.date(), now.date()}

    # Served from the table now, and the same as the events say.
    body = {
        "site_id": site,
        "metrics": ["visitors", "visits", "bounce_rate"],
        "dimensions": ["source"],
        "date_range": [yesterday.date().isoformat(), now.date().isoformat()],
    }
    folding = await outcome(engine, body, raw=False)
    assert isinstance(folding, QueryOut)
    # k=5 by default and 3 visitors that bounced: the Google group would fold, so raw.
    assert folding.meta.source == "raw"
    body["dimensions"] = ["page"]
    rolled, raw = await outcome(engine, body, raw=False), await outcome(engine, body, raw=True)
    assert isinstance(rolled, QueryOut)
    assert isinstance(raw, QueryOut)
    assert (rolled.meta.source, raw.meta.source) == ("rollup", "raw")
    assert rolled.results == raw.results
    assert [r.metrics for r in rolled.results] == [[3, 3, 100]]


async def test_retention_reaches_the_daily_rollups(overt: Overt) -> None:
    engine = overt.resources.engine
    site = await create_site(
        engine=engine, domain="kept.example", settings=SiteSettings(rollup_retention_months=1)
    )
    now = datetime.now(UTC).replace(microsecond=0)
    old = add_months(now, -3)
    await write_events(engine=engine, deliveries=one_visit(site.id, old, 1))
    await write_events(engine=engine, deliveries=one_visit(site.id, now, 2))
    await refresh_daily(engine, include_today=True)
    assert await stored_days(engine, site.id) == {old.date(), now.date()}
    await write_events(engine=engine, deliveries=one_visit(site.id, old, 3))  # dirty again
    await apply_retention(engine, now=now)
    assert await stored_days(engine, site.id) == {now.date()}
    assert await marks(engine, site.id) == {}


async def test_the_migration_marks_every_day_with_data(overt: Overt) -> None:
    """Upgrading onto stored data: every UTC day with data is marked, so answers are exact
    at once (read from the events) until `overt rollups` or the API rebuilds them."""
    engine = overt.resources.engine
    site = overt.site.id
    now = datetime.now(UTC).replace(microsecond=0)
    days = [now - timedelta(days=n) for n in (0, 1, 3)]
    for n, moment in enumerate(days):
        await write_events(engine=engine, deliveries=one_visit(site, moment, n))
    config = alembic_config(overt.resources.settings)
    await engine.dispose()
    await asyncio.to_thread(command.downgrade, config, "0400")
    await asyncio.to_thread(upgrade_head, overt.resources.settings)
    assert await marks(engine, site) == {moment.date(): 1 for moment in days}
    body = {
        "site_id": site,
        "metrics": ["visitors", "visits"],
        "date_range": [days[-1].date().isoformat(), now.date().isoformat()],
    }
    before = await outcome(engine, body, raw=True)
    assert isinstance(before, QueryOut)
    assert [r.metrics for r in before.results] == [[3, 3]]
    assert await refresh_daily(engine, include_today=True) == 3
    after = await outcome(engine, body, raw=False)
    assert isinstance(after, QueryOut)
    assert after.meta.source == "rollup"
    assert after.results == before.results


async def test_a_zoned_site_reads_its_parts_and_a_new_zone_marks_its_days(overt: Overt) -> None:
    """Berlin's local days are cut from two UTC days each: once built, a range of them is
    served from whole days and parts, as the events say; a visit at 23:30 UTC counts on
    the next local day. Moving the site to New York marks every built day, so the answers
    stay exact until the rebuild cuts them anew."""
    engine = overt.resources.engine
    site = await create_site(engine=engine, domain="berlin.example", timezone="Europe/Berlin")
    with_k = DefinitionIn.model_validate({"k": 1})
    await store_definition(engine=engine, site_id=site.id, body=with_k)
    day = datetime(2026, 3, 2, tzinfo=UTC)
    moments = [day + timedelta(hours=h) for h in (-0.5, 10, 22.5, 23.5, 34)]
    for n, moment in enumerate(moments):
        await write_events(engine=engine, deliveries=one_visit(site.id, moment, n))
    await refresh_daily(engine, include_today=True)
    assert await marks(engine, site.id) == {}
    async with engine.connect() as conn:
        parts = await conn.execute(
            select(daily_stats.c.day, daily_stats.c.part)
            .where(daily_stats.c.site_id == site.id, daily_stats.c.part != 0)
            .distinct()
        )
        # UTC March 2 from 23:00 is Berlin's March 3 (part 3); before it, its March 2 (2).
        assert (date(2026, 3, 2), 2) in set(parts.all())
    for first, last, expected in [("2026-03-02", "2026-03-02", 3), ("2026-03-03", "2026-03-03", 2)]:
        body = {
            "site_id": site.id,
            "metrics": ["visitors", "visits"],
            "dimensions": ["time:day"],
            "date_range": [first, last],
        }
        rolled, raw = await outcome(engine, body, raw=False), await outcome(engine, body, raw=True)
        assert isinstance(rolled, QueryOut)
        assert isinstance(raw, QueryOut)
        assert (rolled.meta.source, raw.meta.source) == ("rollup", "raw")
        assert rolled.results == raw.results
        assert [r.metrics for r in rolled.results] == [[expected, expected]]

    await update_site(engine=engine, site_id=site.id, timezone="America/New_York")
    assert set(await marks(engine, site.id)) == await stored_days(engine, site.id)
    body = {
        "site_id": site.id,
        "metrics": ["visitors"],
        "dimensions": ["time:day"],
        "date_range": ["2026-03-01", "2026-03-03"],
    }
    rolled, raw = await outcome(engine, body, raw=False), await outcome(engine, body, raw=True)
    assert isinstance(rolled, QueryOut)
    assert isinstance(raw, QueryOut)
    assert rolled.results == raw.results
    await refresh_daily(engine, include_today=True)
    rebuilt = await outcome(engine, body, raw=False)
    assert isinstance(rebuilt, QueryOut)
    assert rebuilt.meta.source == "rollup"
    assert rebuilt.results == raw.results
    # New York's March 2 is UTC 05:00 to 05:00: the visits at 10:00, 22:30 and 23:30.
    assert [(r.dimensions, r.metrics) for r in rebuilt.results] == [
        (["2026-03-01"], [1]),
        (["2026-03-02"], [3]),
        (["2026-03-03"], [1]),
    ]


async def test_the_parts_migration_marks_the_days_of_zoned_sites(overt: Overt) -> None:
    """Rows built before parts existed are whole days: right for a UTC site, kept; a site
    in another zone lacks its parts, so its days are marked to be rebuilt."""
    engine = overt.resources.engine
    berlin = await create_site(engine=engine, domain="parts.example", timezone="Europe/Berlin")
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    for site in (overt.site.id, berlin.id):
        await write_events(engine=engine, deliveries=one_visit(site, now, 1))
    await refresh_daily(engine, include_today=True)
    config = alembic_config(overt.resources.settings)
    await engine.dispose()
    await asyncio.to_thread(command.downgrade, config, "0410")
    await asyncio.to_thread(upgrade_head, overt.resources.settings)
    assert await marks(engine, overt.site.id) == {}
    assert await marks(engine, berlin.id) == {now.date(): 1}


async def slice_by_slice(
    engine: Any, site_id: str, first: date, last: date, zone: str | None
) -> Counter[tuple[str, str, DayRow]]:
    """Every slice's rows as the raw path's statement gives them, one slice at a time."""
    goals = await goal_set(engine=engine, site_id=site_id)
    definition = await answering_definition(engine=engine, site_id=site_id, version=None)
    async with engine.connect() as conn:
        rows = await slice_rows(
            conn,
            site_id=site_id,
            goals=goals,
            definition=definition,
            first=first,
            last=last,
            zone=zone,
        )
    return Counter(rows)


async def built(
    engine: Any, site_id: str, first: date, last: date, zone: str | None
) -> tuple[Counter[tuple[str, str, DayRow]], bool]:
    """What the rebuild computes for the days, and whether one scan gave it."""
    goals = await goal_set(engine=engine, site_id=site_id)
    definition = await answering_definition(engine=engine, site_id=site_id, version=None)
    async with engine.connect() as conn:
        rows = await build_rows(
            conn,
            site_id=site_id,
            goals=goals,
            definition=definition,
            first=first,
            last=last,
            zone=zone,
        )
        scanned = None
        if conn.dialect.name == "postgresql":
            scanned = await scan_slices(
                conn, site_id=site_id, goals=goals, first=first, last=last, zone=zone
            )
    return Counter(rows), scanned is not None


async def test_one_scan_builds_every_slice_as_the_slices_statements_do(overt: Overt) -> None:
    """PostgreSQL builds a run of days in one scan (GROUPING SETS), SQLite slice by slice:
    the same rows, whole days and Berlin's parts. A session whose events disagree on a
    visitor's value (two countries) makes the scan give up: those days go slice by
    slice, still the same rows."""
    engine = overt.resources.engine
    site = await create_site(engine=engine, domain="scan.example", timezone="Europe/Berlin")
    visits = [
        {
            "day": n % 3,
            "second": 3_000 * n + 60,  # sessions far apart: one visitor's never merge
            "visitor": n % 4,
            "source": SOURCES[n % 3],
            "country": COUNTRIES[n % 3],
            "device": DEVICES[n % 2],
            "pages": PAGES[: 1 + n % 3],
            "engaged": [None if n % 4 == 0 else seconds(n)],
            "goal": n % 5 == 0,
            "again": None,
        }
        for n in range(28)
    ]
    rows = records(site.id, visits)
    await write_events(engine=engine, deliveries=[Delivery("scan", orjson.dumps(rows))])
    first, last = FIRST, FIRST + timedelta(days=2)
    postgres = engine.dialect.name == "postgresql"
    for zone in (None, "Europe/Berlin"):
        expected = await slice_by_slice(engine, site.id, first, last, zone)
        assert {f for f, _, _ in expected} == {"", "source", "country"}
        assert any(row.part != 0 for _, _, row in expected) == (zone is not None)
        assert await built(engine, site.id, first, last, zone) == (expected, postgres)

    # One session, two countries: the visitor's hash is the same, the country changed.
    common = {"site": site.id, "host": "example.com", "source": "Bing", "device": "desktop"}
    moment = datetime.combine(first, datetime.min.time(), UTC) + timedelta(hours=20)
    later = moment + timedelta(seconds=30)
    mixed = [
        make_event({**common, "country": "DE"}, 99, "pageview", moment, "/"),
        make_event({**common, "country": "FR"}, 99, "pageview", later, "/a"),
    ]
    await write_events(engine=engine, deliveries=[Delivery("mixed", orjson.dumps(mixed))])
    expected = await slice_by_slice(engine, site.id, first, last, None)
    # Its FR side: one pageview of a session of two (engaged, no bounce), 30 s long.
    assert ("", "country", DayRow("", first, 0, "FR", (1, 1, 1, 1, 1, 0, 0, 30_000, 1))) in expected
    assert await built(engine, site.id, first, last, None) == (expected, False)
