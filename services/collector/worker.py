"""The ingest worker: queue -> database in batches, idempotent by event id, ack after commit."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import events
from shared.dialect import insert_ignoring_duplicates
from shared.queue import Delivery, EventQueue, RedisStreamQueue
from shared.runtime import Resources

log = logging.getLogger("overt.worker")

RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)


def event_rows(deliveries: Sequence[Delivery]) -> list[dict[str, Any]]:
    """Decode queued payloads (each a JSON list of records) into `events` rows.

    Duplicates inside one batch are dropped here; across batches the primary key does it.
    """
    rows: dict[uuid.UUID, dict[str, Any]] = {}
    for delivery in deliveries:
        for record in orjson.loads(delivery.payload):
            event_id = uuid.UUID(hex=record["id"])
            rows.setdefault(
                event_id,
                {
                    "event_id": event_id,
                    "site_id": record["site"],
                    "received_at": datetime.fromtimestamp(record["ts"] / 1000, UTC),
                    "name": record["name"],
                    "visitor_hash": record["visitor"],
                    "host": record["host"],
                    "path": record["path"],
                    "referrer": record["referrer"],
                },
            )
    return list(rows.values())


async def write_events(*, engine: AsyncEngine, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows in one transaction; returns how many were new (the rest were resends)."""
    async with engine.begin() as conn:
        return await insert_ignoring_duplicates(conn, events, rows)


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
    batch_size = resources.settings.ingest_batch_size
    in_process = not isinstance(queue, RedisStreamQueue)
    failures = 0
    batch: list[Delivery] = []
    while True:
        if not batch:
            if stop.is_set() and not (in_process and await queue.depth()):
                return
            try:
                batch = await queue.consume(count=batch_size, block_ms=250)
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
            delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
            log.warning("batch write failed (%s); retrying in %.1fs", type(exc).__name__, delay)
            failures += 1
            await asyncio.sleep(delay)
            continue
        log.debug("batch written", extra={"entries": len(batch), "inserted": inserted})
        failures = 0
        batch = []
