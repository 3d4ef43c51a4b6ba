"""The ingest worker: queue -> database in batches, idempotent by event id, ack after commit.

Per batch, in one transaction: drop events already stored (redeliveries), sessionise the
new ones, insert them (COPY on Postgres), upsert their sessions and add to the hourly
rollups. Acknowledged only after the commit, so a crash anywhere means a redelivery, and
the redelivery changes nothing that was already committed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Table, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.collector.sessions import (
    SESSION_GAP,
    BatchResult,
    Session,
    add_visitor_counts,
    first_sightings,
    sessionise,
    visitor_keys,
)
from shared.db import (
    events,
    page_hourly,
    page_visitor_days,
    sessions,
    site_hourly,
    sites,
    visitor_days,
)
from shared.dialect import existing_keys, insert_ignoring_duplicates, insert_new_returning, upsert
from shared.queue import Delivery, EventQueue, RedisStreamQueue
from shared.runtime import Resources
from shared.sites import SiteSettings

log = logging.getLogger("overt.worker")

RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
# Queue record key -> events column, for the keys whose names differ.
RENAMED = {
    "site": "site_id",
    "visitor": "visitor_hash",
    "pageview": "pageview_id",
    "scroll": "scroll_depth",
}
PASSED = (
    "name",
    "host",
    "path",
    "referrer",
    "engaged_ms",
    "source",
    "medium",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "browser",
    "os",
    "device",
    "country",
    "props",
    "analytics_id",
)
SESSION_COLUMNS = [c.name for c in sessions.columns if c.name != "session_id"]
IN_CHUNK = 2000  # bound on bound parameters per IN (...) list


def event_rows(deliveries: Sequence[Delivery]) -> list[dict[str, Any]]:
    """Decode queued payloads (each a JSON array of records) into `events` rows.

    Duplicates inside one batch are dropped here; across batches the primary key does it.
    """
    rows: dict[uuid.UUID, dict[str, Any]] = {}
    for delivery in deliveries:
        for record in orjson.loads(delivery.payload):
            event_id = uuid.UUID(hex=record["id"])
            if event_id in rows:
                continue
            pageview = record.get("pageview")
            row = {name: record.get(name) for name in PASSED}
            row.update(
                event_id=event_id,
                site_id=record["site"],
                occurred_at=datetime.fromtimestamp(record["at"] / 1000, UTC),
                visitor_hash=record["visitor"],
                pageview_id=uuid.UUID(hex=pageview) if pageview else None,
                scroll_depth=record.get("scroll"),
                gpc=bool(record.get("gpc")),
                subject_id=record.get("subject"),
                session_id=None,
            )
            rows[event_id] = row
    return list(rows.values())


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + IN_CHUNK] for i in range(0, len(items), IN_CHUNK)]


async def _open_sessions(
    conn: AsyncConnection, keys: Sequence[tuple[str, int]], since: datetime
) -> dict[tuple[str, int], Session]:
    latest: dict[tuple[str, int], Session] = {}
    for chunk in _chunks(keys):
        result = await conn.execute(
            select(sessions).where(
                tuple_(sessions.c.site_id, sessions.c.visitor_hash).in_(chunk),
                sessions.c.last_seen_at >= since,
            )
        )
        for row in result.mappings():
            key = (row["site_id"], row["visitor_hash"])
            if key not in latest or row["last_seen_at"] > latest[key].last_seen_at:
                latest[key] = Session.from_row(dict(row))
    return latest


async def _pageview_sessions(
    conn: AsyncConnection, pageview_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    owners: dict[uuid.UUID, uuid.UUID] = {}
    for chunk in _chunks(pageview_ids):
        result = await conn.execute(
            select(events.c.event_id, events.c.session_id).where(
                events.c.event_id.in_(chunk), events.c.session_id.is_not(None)
            )
        )
        owners.update({row.event_id: row.session_id for row in result})
    return owners


async def _site_settings(conn: AsyncConnection, site_ids: set[str]) -> dict[str, SiteSettings]:
    result = await conn.execute(
        select(sites.c.id, sites.c.settings).where(sites.c.id.in_(site_ids))
    )
    return {row.id: SiteSettings.model_validate(row.settings or {}) for row in result}


async def _count_new_visitors(conn: AsyncConnection, result: BatchResult) -> None:
    """Add the batch's visitors new to their day (and page) to the rollup deltas; forget the
    per-day sets older than the day before the batch's earliest event."""
    visitors, pages = first_sightings(result.events)
    new_visitors = set(
        await insert_new_returning(conn, visitor_days, _key_rows(visitors, visitor_days))
    )
    new_pages = set(
        await insert_new_returning(conn, page_visitor_days, _key_rows(pages, page_visitor_days))
    )
    add_visitor_counts(
        result,
        {key: at for key, at in visitors.items() if key in new_visitors},
        {key: at for key, at in pages.items() if key in new_pages},
    )
    oldest = min(key[0] for key in visitors) - timedelta(days=1)
    for table in (visitor_days, page_visitor_days):
        await conn.execute(delete(table).where(table.c.day < oldest))


def _key_rows(keys: Mapping[tuple[Any, ...], datetime], table: Table) -> list[dict[str, Any]]:
    columns = [column.name for column in table.primary_key.columns]
    return [dict(zip(columns, key, strict=True)) for key in keys]


async def write_events(*, engine: AsyncEngine, rows: list[dict[str, Any]]) -> int:
    """Store the new rows of a batch with their sessions and rollups; returns how many were new."""
    if not rows:
        return 0
    async with engine.begin() as conn:
        existing = await existing_keys(conn, events.c.event_id, [row["event_id"] for row in rows])
        new = [row for row in rows if row["event_id"] not in existing]
        if not new:
            return 0
        earliest = min(row["occurred_at"] for row in new) - SESSION_GAP
        in_batch = {row["event_id"] for row in new}
        referred = {
            row["pageview_id"]
            for row in new
            if row["name"] == "engagement"
            and row["pageview_id"]
            and row["pageview_id"] not in in_batch
        }
        result = sessionise(
            new,
            open_sessions=await _open_sessions(conn, sorted(visitor_keys(new)), earliest),
            pageview_sessions=await _pageview_sessions(conn, sorted(referred)),
            settings=await _site_settings(conn, {row["site_id"] for row in new}),
        )
        inserted = await insert_ignoring_duplicates(conn, events, result.events)
        await _count_new_visitors(conn, result)
        await upsert(
            conn,
            sessions,
            [s.row() for s in result.sessions],
            keys=["session_id"],
            replace=SESSION_COLUMNS,
        )
        await upsert(
            conn,
            page_hourly,
            result.page_hourly,
            keys=["site_id", "hour", "path"],
            add=["pageviews", "engaged_ms", "entries", "visitors"],
        )
        await upsert(
            conn,
            site_hourly,
            result.site_hourly,
            keys=["site_id", "hour"],
            add=[
                "pageviews",
                "events",
                "sessions",
                "engaged_sessions",
                "engaged_ms",
                "gpc_events",
                "visitors",
            ],
        )
    return inserted


async def ingest_batch(*, engine: AsyncEngine, queue: EventQueue, batch: Sequence[Delivery]) -> int:
    """Write one batch, then acknowledge it. Raises if the write fails (nothing is acked)."""
    inserted = await write_events(engine=engine, rows=event_rows(batch))
    await queue.ack([delivery.id for delivery in batch])
    return inserted


async def run_ingest(resources: Resources, stop: asyncio.Event) -> None:
    """Consume until `stop` is set, then drain what is already queued and return.

    A failed write is retried with backoff and never acknowledged, so nothing accepted is
    lost; with Redis, a crash leaves the batch pending for this consumer name to re-read.
    """
    engine, queue = resources.engine, resources.queue
    entries = resources.settings.ingest_batch_entries
    in_process = not isinstance(queue, RedisStreamQueue)
    failures = 0
    batch: list[Delivery] = []
    while True:
        if not batch:
            if stop.is_set() and not (in_process and await queue.depth()):
                return
            try:
                batch = await queue.consume(count=entries, block_ms=250)
            except Exception as exc:
                log.warning("queue read failed: %s", type(exc).__name__)
                await asyncio.sleep(RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)])
                failures += 1
                continue
            if not batch:
                if stop.is_set():
                    return
                continue
        try:
            inserted = await ingest_batch(engine=engine, queue=queue, batch=batch)
        except Exception as exc:
            if stop.is_set() and failures >= len(RETRY_DELAYS):
                # Shutting down and the database still refuses: stop without acknowledging.
                # Redis keeps the batch pending; in-process publishers get a 503 (not accepted).
                log.error("giving up on a batch at shutdown: %s", type(exc).__name__)
                return
            delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
            log.warning(
                "batch write failed (%s); retrying in %.1fs",
                type(exc).__name__,
                delay,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            failures += 1
            await asyncio.sleep(delay)
            continue
        log.debug("batch written", extra={"entries": len(batch), "inserted": inserted})
        failures = 0
        batch = []
