"""Overlapped batches: the next batch is sessionised while the previous one is written.

Checked by outcome: one visitor's events spread over many small batches make one session,
counted once, whatever was in flight when each batch was prepared.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import delete, func, select

from services.collector import worker
from services.collector.worker import (
    Carry,
    ConcurrentWrite,
    StoredKeys,
    ingest_batch,
    prepare_batch,
    run_ingest,
    write_events,
    write_prepared,
)
from shared.models import (
    events,
    page_hourly,
    page_visitor_days,
    sessions,
    site_hourly,
    visitor_days,
)
from shared.queue import Delivery, InProcessQueue
from shared.runtime import Resources, open_resources
from shared.settings import Settings
from shared.sites import Site, create_site
from tests.helpers.overt import wait_drained

pytestmark = pytest.mark.anyio

START = int(datetime(2026, 11, 24, 10, 0, tzinfo=UTC).timestamp() * 1000)


def pageview(site: Site, at: int, path: str) -> dict[str, object]:
    return {
        "id": uuid.uuid4().hex,
        "site": site.id,
        "at": at,
        "name": "pageview",
        "visitor": 7,
        "host": site.domain,
        "path": path,
    }


def engagement(page: dict[str, object], seconds: int) -> dict[str, object]:
    return page | {
        "id": uuid.uuid4().hex,
        "at": int(str(page["at"])) + seconds * 1000,
        "name": "engagement",
        "pageview": page["id"],
        "engaged_ms": seconds * 1000,
        "scroll": 40 + seconds,
    }


async def test_one_visitor_over_many_small_batches_is_one_session(settings: Settings) -> None:
    # One queue entry per batch, so every batch is prepared while the one before is written.
    async with open_resources(settings.model_copy(update={"ingest_batch_entries": 1})) as res:
        site = await create_site(engine=res.engine, domain="example.com")
        pages = [pageview(site, START + minute * 60_000, f"/p{minute}") for minute in range(6)]
        entries = []
        for page in pages:
            entries.append([page])
            entries.append([engagement(page, 20)])  # refers to the pageview one batch back
        stop = asyncio.Event()
        worker = asyncio.create_task(run_ingest(res, stop))
        if isinstance(res.queue, InProcessQueue):
            await asyncio.gather(*(res.queue.publish(orjson.dumps(e)) for e in entries))
        else:
            for entry in entries:
                await res.queue.publish(orjson.dumps(entry))
            await wait_drained(res.queue)
        stop.set()
        await worker

        async with res.engine.connect() as conn:
            rows = (await conn.execute(select(sessions))).mappings().all()
            stored = (await conn.execute(select(func.count()).select_from(events))).scalar_one()
            unlinked = (
                await conn.execute(
                    select(func.count()).select_from(events).where(events.c.session_id.is_(None))
                )
            ).scalar_one()
            hourly = (await conn.execute(select(site_hourly))).mappings().all()
    assert stored == 12
    assert unlinked == 0
    assert len(rows) == 1
    (session,) = rows
    assert session["pageviews"] == 6
    assert session["events"] == 12
    assert session["engaged_ms"] == 6 * 20_000
    assert session["max_scroll_depth"] == 60
    assert session["entry_path"] == "/p0"
    assert session["exit_path"] == "/p5"
    assert [(h["sessions"], h["pageviews"], h["events"]) for h in hourly] == [(1, 6, 12)]


async def test_a_batch_sessionised_in_slices_is_counted_as_in_one(
    resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is sessionised a slice at a time while the slice before is stored: a
    session, an engagement's pageview and the rollups carry across its slices."""
    monkeypatch.setattr(worker, "STAGE_SLICE", 3)
    site = await create_site(engine=resources.engine, domain="example.com")
    pages = [pageview(site, START + minute * 60_000, f"/p{minute % 2}") for minute in range(5)]
    later = pageview(site, START + 3 * 3600_000, "/p0")  # after the gap: a second session
    sent = [*pages, engagement(pages[0], 30), engagement(pages[4], 5), later]
    # Out of time order across entries: the batch is put in order before slicing.
    deliveries = [Delivery("1", orjson.dumps(sent[5:])), Delivery("2", orjson.dumps(sent[:5]))]
    await ingest_batch(engine=resources.engine, queue=resources.queue, batch=deliveries)

    async with resources.engine.connect() as conn:
        rows = (await conn.execute(select(sessions).order_by(sessions.c.started_at))).all()
        linked = dict((await conn.execute(select(events.c.event_id, events.c.session_id))).all())
        hourly = (await conn.execute(select(site_hourly).order_by(site_hourly.c.hour))).all()
        paths = (
            await conn.execute(
                select(
                    page_hourly.c.path, page_hourly.c.pageviews, page_hourly.c.visitors
                ).order_by(page_hourly.c.hour, page_hourly.c.path)
            )
        ).all()
    assert [(s.pageviews, s.events, s.engaged_ms, s.exit_path) for s in rows] == [
        (5, 7, 35_000, "/p0"),
        (1, 1, 0, "/p0"),
    ]
    first, second = rows[0].session_id, rows[1].session_id
    assert {linked[uuid.UUID(str(event["id"]))] for event in sent[:7]} == {first}
    assert linked[uuid.UUID(str(later["id"]))] == second
    assert [(h.pageviews, h.events, h.sessions, h.visitors) for h in hourly] == [
        (5, 7, 1, 1),
        (1, 1, 1, 0),
    ]
    assert [tuple(row) for row in paths] == [("/p0", 3, 1), ("/p1", 2, 1), ("/p0", 1, 0)]


async def test_an_engagement_joins_its_pageviews_session_not_the_visitors_latest(
    resources: Resources,
) -> None:
    """A page left open two hours: its engagement event belongs to the pageview's session,
    though the visitor has opened a newer one since (here in the same batch)."""
    site = await create_site(engine=resources.engine, domain="example.com")
    old = pageview(site, START, "/old")
    new = pageview(site, START + 2 * 3600_000, "/new")
    late = engagement(old, 2 * 3600 + 60)  # a minute after the newer pageview
    entry = Delivery("1", orjson.dumps([old, new, late]))
    assert await write_events(engine=resources.engine, deliveries=[entry]) == 3

    async with resources.engine.connect() as conn:
        linked = dict((await conn.execute(select(events.c.event_id, events.c.session_id))).all())
        engaged = dict(
            (await conn.execute(select(sessions.c.session_id, sessions.c.engaged_ms))).all()
        )
    first, second, joined = (linked[uuid.UUID(str(event["id"]))] for event in (old, new, late))
    assert first != second
    assert joined == first
    assert engaged == {first: late["engaged_ms"], second: 0}


async def test_batch_stored_by_another_writer_meanwhile_is_not_counted_twice(
    resources: Resources,
) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    pages = [pageview(site, START + n * 1000, "/") for n in range(4)]
    deliveries = [Delivery("1", orjson.dumps(pages))]
    prepared = await prepare_batch(engine=resources.engine, deliveries=deliveries, carry=Carry())
    # Another writer stores the same entry first (its ack of an unknown id is a no-op).
    await ingest_batch(engine=resources.engine, queue=resources.queue, batch=deliveries)
    with pytest.raises(ConcurrentWrite):
        await write_prepared(engine=resources.engine, batch=prepared)

    async with resources.engine.connect() as conn:
        stored = (await conn.execute(select(func.count()).select_from(events))).scalar_one()
        hourly = (await conn.execute(select(site_hourly))).mappings().all()
        session_count = (
            await conn.execute(select(func.count()).select_from(sessions))
        ).scalar_one()
    assert stored == 4
    assert session_count == 1
    assert [(h["pageviews"], h["sessions"]) for h in hourly] == [(4, 1)]


async def test_redelivered_events_in_a_mixed_batch_are_stored_once_without_a_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Batches are not looked up before their ids are claimed: a batch holding events stored
    before (a crash, a client resend) fails its claim and is prepared again against what is
    stored. The new events are stored, the old ones not again, and the rollups count each
    event once. That is not a failure, so it is logged at debug only."""
    async with open_resources(settings) as res:
        site = await create_site(engine=res.engine, domain="example.com")
        first = [pageview(site, START + n * 60_000, f"/a{n}") for n in range(3)]
        later = [pageview(site, START + (3 + n) * 60_000, f"/b{n}") for n in range(2)]
        await ingest_batch(
            engine=res.engine, queue=res.queue, batch=[Delivery("1", orjson.dumps(first))]
        )
        stop = asyncio.Event()
        caplog.set_level("DEBUG", logger="overt.worker")
        worker = asyncio.create_task(run_ingest(res, stop))
        # The resend of the first two events arrives in one entry with two new ones.
        await res.queue.publish(orjson.dumps(first[:2] + later))
        if not isinstance(res.queue, InProcessQueue):
            await wait_drained(res.queue)
        stop.set()
        await worker

        async with res.engine.connect() as conn:
            paths = (await conn.execute(select(events.c.path))).scalars().all()
            session_rows = (await conn.execute(select(sessions))).mappings().all()
            hourly = (await conn.execute(select(site_hourly))).mappings().all()
    assert sorted(paths) == ["/a0", "/a1", "/a2", "/b0", "/b1"]
    assert [(s["pageviews"], s["events"], s["exit_path"]) for s in session_rows] == [(5, 5, "/b1")]
    assert [(h["pageviews"], h["events"], h["sessions"]) for h in hourly] == [(5, 5, 1)]
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelname != "DEBUG"]
    assert logged == []
    retried = "batch held events stored before; preparing it again"
    assert retried in [r.getMessage() for r in caplog.records]


async def test_visitor_keys_are_remembered_only_once_committed(resources: Resources) -> None:
    """The worker skips sending visitor-day keys it has committed (StoredKeys). A failed
    write remembers nothing, so its retry still counts the visitor; once committed, a key is
    not sent again: shown by removing the stored key by hand, after which a worker that
    remembers it still does not count the visitor twice."""
    site = await create_site(engine=resources.engine, domain="example.com")
    stored = StoredKeys()
    first = [pageview(site, START, "/")]
    deliveries = [Delivery("1", orjson.dumps(first))]
    prepared = await prepare_batch(engine=resources.engine, deliveries=deliveries, carry=Carry())
    await ingest_batch(engine=resources.engine, queue=resources.queue, batch=deliveries)
    with pytest.raises(ConcurrentWrite):
        await write_prepared(engine=resources.engine, batch=prepared, stored=stored)
    assert not stored.keys

    later = [pageview(site, START + 60_000, "/"), pageview(site, START + 120_000, "/next")]
    batch = await prepare_batch(
        engine=resources.engine,
        deliveries=[Delivery("2", orjson.dumps(later[:1]))],
        carry=Carry(),
    )
    assert await write_prepared(engine=resources.engine, batch=batch, stored=stored) == 1
    day = datetime.fromtimestamp(START / 1000, UTC).date()
    assert stored.keys == {(day, site.id, 7), (day, site.id, "/", 7)}

    async with resources.engine.begin() as conn:
        await conn.execute(delete(visitor_days))
        await conn.execute(delete(page_visitor_days))
    batch = await prepare_batch(
        engine=resources.engine,
        deliveries=[Delivery("3", orjson.dumps(later[1:]))],
        carry=Carry(),
    )
    assert await write_prepared(engine=resources.engine, batch=batch, stored=stored) == 1

    async with resources.engine.connect() as conn:
        hourly = (await conn.execute(select(site_hourly))).mappings().all()
        pages = dict((await conn.execute(select(page_hourly.c.path, page_hourly.c.visitors))).all())
    assert [(h["pageviews"], h["visitors"]) for h in hourly] == [(3, 1)]
    assert pages == {"/": 1, "/next": 1}  # /next is new to the visitor: sent and counted
