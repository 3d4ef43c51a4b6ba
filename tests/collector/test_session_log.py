"""Continuing sessions written late (session_log): their changes are logged with their batch
and folded into `sessions` later. A worker that dies before folding loses nothing, and the
worker after it counts nothing twice: it folds the log before it continues the sessions."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import orjson
import pytest
from sqlalchemy import delete, func, select

from services.collector.session_log import fold_changes, log_changes
from services.collector.sessions import Session, epoch_ms
from services.collector.worker import IngestLoop, run_ingest, write_events
from shared.models import daily_dirty, events, session_changes, sessions, site_hourly
from shared.queue import Delivery, InProcessQueue
from shared.runtime import Resources
from shared.sites import Site, create_site
from tests.helpers.overt import wait_drained

pytestmark = pytest.mark.anyio

START = int(datetime(2026, 12, 6, 10, 0, tzinfo=UTC).timestamp() * 1000)


def pageview(site: Site, visitor: int, minute: int) -> dict[str, object]:
    return {"id": uuid.uuid4().hex, "site": site.id, "at": START + minute * 60_000,
            "name": "pageview", "visitor": visitor, "host": site.domain,
            "path": f"/p{minute}"}  # fmt: skip


async def session_rows(resources: Resources) -> dict[uuid.UUID, tuple[int, int, int, str]]:
    """Each stored session's (events, pageviews, last seen ms, exit path)."""
    async with resources.engine.connect() as conn:
        rows = (await conn.execute(select(sessions))).mappings().all()
    return {
        row["session_id"]: (
            row["events"],
            row["pageviews"],
            epoch_ms(row["last_seen_at"]),
            row["exit_path"],
        )
        for row in rows
    }


async def sessions_from_events(resources: Resources) -> dict[uuid.UUID, tuple[int, int, int, str]]:
    """The same figures, counted from the stored events themselves."""
    async with resources.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(events.c.session_id, events.c.occurred_at, events.c.path).order_by(
                    events.c.occurred_at
                )
            )
        ).all()
    found: dict[uuid.UUID, tuple[int, int, int, str]] = {}
    for session_id, occurred_at, path in rows:
        count, _, _, _ = found.get(session_id, (0, 0, 0, ""))
        found[session_id] = (count + 1, count + 1, epoch_ms(occurred_at), path)
    return found


async def logged(resources: Resources) -> int:
    async with resources.engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(session_changes))).scalar_one()
        )


async def test_the_latest_change_is_folded_once_and_only_for_the_slices_asked(
    resources: Resources,
) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    first = pageview(site, 1, 0)
    await write_events(engine=resources.engine, deliveries=[Delivery("1", orjson.dumps([first]))])
    ((session_id, stored),) = (await session_rows(resources)).items()
    assert stored == (1, 1, START, "/p0")

    def snapshot(events_: int, exit_path: str) -> Session:
        return Session(session_id, site.id, 1, START, START + events_ * 1000, "/p0", exit_path,
                       pageviews=events_, events=events_)  # fmt: skip

    async with resources.engine.begin() as conn:
        await log_changes(conn, [snapshot(2, "/two")], lambda site_id, visitor: 3)
        await log_changes(conn, [snapshot(3, "/three")], lambda site_id, visitor: 3)
        assert await fold_changes(conn, {4}) == 0  # another slice's: not touched
    assert await logged(resources) == 2
    assert (await session_rows(resources))[session_id] == (1, 1, START, "/p0")

    async with resources.engine.begin() as conn:
        await conn.execute(delete(daily_dirty))  # as if the day had been rebuilt since
    async with resources.engine.begin() as conn:
        assert await fold_changes(conn, {3, 4}) == 1
        assert await fold_changes(conn, {3}) == 0  # folded once: nothing left
    assert await logged(resources) == 0
    assert (await session_rows(resources))[session_id] == (3, 3, START + 3000, "/three")
    # The session's facts changed only now: its day is to be rebuilt (daily rollups).
    async with resources.engine.connect() as conn:
        marked = (await conn.execute(select(daily_dirty.c.site_id, daily_dirty.c.day))).all()
    assert [tuple(row) for row in marked] == [(site.id, date(2026, 12, 6))]


async def test_a_worker_dying_before_its_fold_loses_nothing_and_the_next_counts_nothing_twice(
    resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    visitors = (1, 2, 3)
    sent = [[pageview(site, visitor, minute)] for minute in range(8) for visitor in visitors]

    async def publish(entries: list[list[dict[str, object]]]) -> None:
        if isinstance(resources.queue, InProcessQueue):  # returns once committed
            await asyncio.gather(*(resources.queue.publish(orjson.dumps(e)) for e in entries))
            return
        for entry in entries:
            visitor = (site.id, int(str(entry[0]["visitor"])))
            await resources.queue.publish(orjson.dumps(entry), visitor=visitor)
        await wait_drained(resources.queue)

    # The first worker: one entry a batch, so its visitors' sessions continue batch after
    # batch; it dies before any fold (none between batches, none on the way out).
    stop = asyncio.Event()
    first = IngestLoop(resources, stop)
    first.entries, first.log_sessions = 1, True

    async def no_fold_yet() -> bool:
        return True

    monkeypatch.setattr(first, "keep_folded", no_fold_yet)
    if first.leases is not None:
        await first.leases.refresh()  # it holds every slice (the renewing task aside)
    looping = asyncio.create_task(first.loop())
    await publish(sent[:12])
    stop.set()
    await looping
    assert await logged(resources) > 0
    stale = await session_rows(resources)
    assert len(stale) == len(visitors)
    assert {figures[0] for figures in stale.values()} == {1}  # the rows as first stored
    if first.leases is not None:
        # Its leases and its place among the workers expire (here at once): the next
        # worker takes its slices over.
        await first.leases.close()

    stop = asyncio.Event()
    second = asyncio.create_task(run_ingest(resources, stop))
    await publish(sent[12:])
    stop.set()
    await second

    assert await logged(resources) == 0
    stored = await session_rows(resources)
    assert stored == await sessions_from_events(resources)
    assert len(stored) == len(visitors)  # continued, not opened again
    assert {figures[:2] for figures in stored.values()} == {(8, 8)}
    async with resources.engine.connect() as conn:
        hourly = (await conn.execute(select(func.sum(site_hourly.c.sessions)))).scalar_one()
    assert hourly == len(visitors)
