"""Monthly partitions made ahead, retention that removes only expired data, dedup across months."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.collector.worker import write_events
from shared.models import event_ids, events, sessions, site_hourly
from shared.partitions import (
    DEFAULT_PARTITION,
    add_months,
    apply_retention,
    ensure_partitions,
    month_of,
    monthly_partitions,
    partition_name,
    run_maintenance,
)
from shared.queue import Delivery
from shared.runtime import Resources, open_resources
from shared.settings import Settings
from shared.sites import Site, SiteSettings, create_site

pytestmark = pytest.mark.anyio


def delivery(site: Site, at: datetime, event_id: str | None = None) -> Delivery:
    record = {
        "id": event_id or uuid.uuid4().hex,
        "site": site.id,
        "at": int(at.timestamp() * 1000),
        "name": "pageview",
        "visitor": 7,
        "host": site.domain,
        "path": "/",
    }
    return Delivery(uuid.uuid4().hex, orjson.dumps([record]))


async def store(engine: AsyncEngine, site: Site, *moments: datetime) -> int:
    return await write_events(engine=engine, deliveries=[delivery(site, at) for at in moments])


async def count(engine: AsyncEngine, table: object = events, **where: object) -> int:
    query = select(func.count()).select_from(table)  # type: ignore[arg-type]
    for column, value in where.items():
        query = query.where(events.c[column] == value)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def partition_of(engine: AsyncEngine, event_id: uuid.UUID) -> str:
    async with engine.connect() as conn:
        return str(
            (
                await conn.execute(
                    text("SELECT tableoid::regclass::text FROM events WHERE event_id = :id"),
                    {"id": event_id},
                )
            ).scalar_one()
        )


@pytest.fixture
async def pg_resources(postgres_settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(postgres_settings) as opened:
        yield opened


async def test_partitions_are_made_ahead_once_even_by_concurrent_processes(
    pg_resources: Resources,
) -> None:
    resources = pg_resources
    # A month far ahead, so this test's partitions are its own.
    future = datetime(2090, 3, 15, tzinfo=UTC)
    results = await asyncio.gather(
        *(ensure_partitions(resources.engine, now=future, ahead=2) for _ in range(4))
    )
    created = [name for result in results for name in result]
    assert sorted(created) == ["events_p209003", "events_p209004", "events_p209005"]
    assert await ensure_partitions(resources.engine, now=future, ahead=2) == []
    async with resources.engine.connect() as conn:
        names = await monthly_partitions(conn)
    assert {"events_p209003", "events_p209004", "events_p209005"} <= set(names)
    assert "events_p209006" not in names


async def test_a_new_partition_takes_its_stragglers_out_of_the_default_partition(
    pg_resources: Resources,
) -> None:
    resources = pg_resources
    site = await create_site(engine=resources.engine, domain="example.com")
    moment = datetime(2091, 7, 4, 12, tzinfo=UTC)  # no partition yet: lands in the default
    batch = [delivery(site, moment), delivery(site, moment + timedelta(days=40))]
    ids = [uuid.UUID(hex=orjson.loads(d.payload)[0]["id"]) for d in batch]
    assert await write_events(engine=resources.engine, deliveries=batch) == 2
    assert await partition_of(resources.engine, ids[0]) == DEFAULT_PARTITION

    assert await ensure_partitions(resources.engine, now=moment, ahead=0) == ["events_p209107"]
    assert await partition_of(resources.engine, ids[0]) == "events_p209107"
    # August has no partition yet: its event stays in the default partition.
    assert await partition_of(resources.engine, ids[1]) == DEFAULT_PARTITION
    assert await count(resources.engine, site_id=site.id) == 2


async def test_a_replay_with_another_time_is_stored_once_across_partitions(
    resources: Resources,
) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    now = datetime.now(UTC)
    previous_month = month_of(now) - timedelta(days=1)  # the last day of last month
    await ensure_partitions(resources.engine, now=add_months(now, -1), ahead=1)
    event_id = uuid.uuid4().hex
    first = [delivery(site, now, event_id)]
    replay = [delivery(site, datetime.combine(previous_month, datetime.min.time(), UTC), event_id)]
    assert await write_events(engine=resources.engine, deliveries=first) == 1
    assert await write_events(engine=resources.engine, deliveries=replay) == 0
    # Concurrent writers of the same ids, each with its own times: still once each.
    ids = [uuid.uuid4().hex for _ in range(50)]
    batches = [[delivery(site, now - timedelta(days=day), i) for i in ids] for day in (0, 35, 70)]
    written = await asyncio.gather(
        *(write_events(engine=resources.engine, deliveries=batch) for batch in batches)
    )
    assert sum(written) == 50
    assert await count(resources.engine, site_id=site.id) == 51
    assert await count(resources.engine, event_ids) == 51


async def test_retention_removes_only_what_each_site_no_longer_keeps(
    resources: Resources,
) -> None:
    engine = resources.engine
    keeps_all = await create_site(engine=engine, domain="example.com")
    keeps_one = await create_site(
        engine=engine, domain="example.org", settings=SiteSettings(raw_retention_months=1)
    )
    now = datetime.now(UTC)
    expired = add_months(now, -26)
    # On Postgres the expired month gets its own partition, which retention must drop whole.
    await ensure_partitions(engine, now=expired, ahead=0)
    moments = (expired, add_months(now, -2), now - timedelta(hours=1))
    for site in (keeps_all, keeps_one):
        assert await store(engine, site, *moments) == 3
    rollups_before = await count(engine, site_hourly)
    sessions_before = await count(engine, sessions)

    report = await apply_retention(engine, now=now)

    assert await count(engine, site_id=keeps_all.id) == 2  # 25 months: only the 26-month one
    assert await count(engine, site_id=keeps_one.id) == 1  # 1 month: only the recent one
    assert rollups_before >= 3
    assert await count(engine, site_hourly) == rollups_before  # kept: no rollup retention set
    assert await count(engine, sessions) < sessions_before
    if engine.dialect.name == "postgresql":
        assert report.dropped_partitions == [partition_name(month_of(expired))]
        assert report.deleted_events == 1  # the 2-month-old one of the 1-month site
        async with engine.connect() as conn:
            assert partition_name(month_of(expired)) not in await monthly_partitions(conn)
            assert partition_name(month_of(now)) in await monthly_partitions(conn)
    else:
        assert report.dropped_partitions == []
        assert report.deleted_events == 3
    # Running it again finds nothing more to remove.
    again = await apply_retention(engine, now=now)
    assert (again.deleted_events, again.dropped_partitions) == (0, [])


async def test_the_background_task_runs_a_pass_at_start(resources: Resources) -> None:
    """What workers and `overt up` run: a pass at start (then one per interval until stop)."""
    site = await create_site(engine=resources.engine, domain="example.com")
    now = datetime.now(UTC)
    assert await store(resources.engine, site, add_months(now, -30), now) == 2
    stop = asyncio.Event()
    stop.set()  # one pass, then return
    await asyncio.wait_for(run_maintenance(resources, stop), timeout=30)
    assert await count(resources.engine, site_id=site.id) == 1
