"""The ingest path loses nothing: durable before 2xx, re-read after a crash, written once."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import func, select

from services.collector.worker import ingest_batch, queued_events, run_ingest
from shared.db import create_engine
from shared.models import events
from shared.queue import InProcessQueue, RedisStreamQueue
from shared.runtime import Resources, open_resources
from shared.settings import Settings
from shared.sites import Site, create_site
from tests.helpers.overt import make_app, running, wait_drained

pytestmark = pytest.mark.anyio

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0"


def record(site: Site) -> dict[str, object]:
    return {
        "id": uuid.uuid4().hex,
        "site": site.id,
        "at": int(datetime.now(UTC).timestamp() * 1000),
        "name": "pageview",
        "visitor": 42,
        "host": site.domain,
        "path": "/",
        "referrer": None,
    }


async def count_events(settings: Settings) -> int:
    """Counted through a fresh engine: what is on disk, not what one connection sees."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(events))).scalar_one())
    finally:
        await engine.dispose()


async def test_worker_stopped_after_queueing_then_restarted_loses_nothing(
    resources: Resources,
) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    payloads = [orjson.dumps([record(site) for _ in range(3)]) for _ in range(4)]
    if isinstance(resources.queue, InProcessQueue):
        # Embedded mode: publishers wait for the commit, so with no worker nothing is acked...
        publishing = [asyncio.ensure_future(resources.queue.publish(p)) for p in payloads]
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in publishing)
    else:
        for payload in payloads:
            await resources.queue.publish(payload)
    assert await count_events(resources.settings) == 0

    # ...and the worker, started later, writes all of it; a stop drains what is queued.
    stop = asyncio.Event()
    worker = asyncio.create_task(run_ingest(resources, stop))
    await wait_drained(resources.queue)
    stop.set()
    await worker
    if isinstance(resources.queue, InProcessQueue):
        await asyncio.gather(*publishing)
    assert await count_events(resources.settings) == 12


async def test_redis_batch_read_but_not_committed_is_read_again_after_a_crash(
    postgres_settings: Settings,
) -> None:
    async with open_resources(postgres_settings) as resources:
        await _crash_and_restart(resources)


async def _crash_and_restart(resources: Resources) -> None:
    assert isinstance(resources.queue, RedisStreamQueue)
    site = await create_site(engine=resources.engine, domain="example.com")
    for _ in range(5):
        await resources.queue.publish(orjson.dumps([record(site)]))
    crashed = await resources.queue.consume(count=3, block_ms=100)
    assert len(crashed) == 3  # delivered to worker-1, which "dies" before writing

    # The restarted worker (same consumer name, new connection) sees its pending entries first.
    async with open_resources(resources.settings) as restarted:
        stop = asyncio.Event()
        worker = asyncio.create_task(run_ingest(restarted, stop))
        await wait_drained(restarted.queue)
        stop.set()
        await worker
    assert await count_events(resources.settings) == 5


async def test_write_failure_is_not_acknowledged(resources: Resources) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    # No 64-bit column holds this visitor hash (orjson will not even encode it).
    bad = json.dumps([record(site) | {"visitor": 2**70}]).encode()
    if isinstance(resources.queue, InProcessQueue):
        publishing = asyncio.ensure_future(resources.queue.publish(bad))
        await asyncio.sleep(0)
    else:
        await resources.queue.publish(bad)
    batch = await resources.queue.consume(count=10, block_ms=100)
    assert len(batch) == 1
    with pytest.raises(Exception, match=r"(?i)int64|too large"):
        await ingest_batch(engine=resources.engine, queue=resources.queue, batch=batch)
    assert await resources.queue.depth() == 1  # still owed to the database
    if isinstance(resources.queue, InProcessQueue):
        assert not publishing.done()
        publishing.cancel()


async def test_embedded_2xx_means_committed_to_disk(sqlite_settings: Settings) -> None:
    async with open_resources(sqlite_settings) as resources:
        await _post_and_check_disk(resources)


async def _post_and_check_disk(resources: Resources) -> None:
    assert isinstance(resources.queue, InProcessQueue)
    site = await create_site(engine=resources.engine, domain="example.com")
    async with running(make_app(resources)) as client:
        for sent in range(1, 6):
            response = await client.post(
                "/e",
                content=orjson.dumps(
                    {
                        "s": site.id,
                        "n": "pageview",
                        "u": "https://example.com/",
                        "i": uuid.uuid4().hex,
                    }
                ),
                headers={"content-type": "text/plain", "user-agent": BROWSER},
            )
            assert response.status_code == 202
            # Checked before the app stops (no drain yet), through another connection.
            assert await count_events(resources.settings) == sent


def test_duplicates_inside_one_batch_become_one_row() -> None:
    from shared.queue import Delivery

    site = Site(id="abc", domain="example.com", timezone="UTC")
    one = record(site)
    rows = queued_events(
        [Delivery("1", orjson.dumps([one, one])), Delivery("2", orjson.dumps([one]))]
    )
    assert list(rows) == [one["id"]]  # the worker keys events by hex id
    assert rows[str(one["id"])].path == one["path"]
