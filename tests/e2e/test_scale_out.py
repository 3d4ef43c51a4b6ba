"""The production topology without containers: 2 collectors, 2 workers, consent and api.

Real `overt serve` processes on loopback against PostgreSQL and Redis. Every accepted
event is stored exactly once, both workers wrote a share, and SIGTERM drains each process.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from shared.queue import RedisStreamQueue
from shared.settings import Settings
from tests.helpers.backends import free_port
from tests.helpers.load import site_with_key, steady_load, stored_ids, wait_stored
from tests.helpers.processes import start_all, start_service, stop_overt

# Six Python processes start at once: on a busy 2-CPU machine that alone can take a minute.
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300)]

EVENTS = 2000
WORKERS = ("worker-a", "worker-b")


def inserted_by(log: Path) -> int:
    """Events a worker reports as newly written (its DEBUG 'batch written' lines)."""
    total = 0
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            entry = orjson.loads(line)
            if entry.get("msg") == "batch written":
                total += int(entry["inserted"])
    return total


async def test_two_collectors_two_workers_store_each_accepted_event_once(
    postgres_settings: Settings, tmp_path: Path
) -> None:
    settings = postgres_settings
    site_id, key = await site_with_key(settings)

    names = ("collector-1", "collector-2", *WORKERS, "consent", "api")
    ports = {name: free_port() for name in names}
    logs = {name: tmp_path / f"{name}.log" for name in names}
    worker_env = {"log_level": "DEBUG", "ingest_batch_entries": "20", "claim_idle_ms": "5000"}
    starts = {
        name: start_service(settings, name.split("-")[0], ports[name], logs[name])
        for name in ("collector-1", "collector-2", "consent", "api")
    }
    for name in WORKERS:
        starts[name] = start_service(
            settings, "worker", ports[name], logs[name], worker_name=name, **worker_env
        )
    processes = await start_all(starts)
    collectors = [f"http://127.0.0.1:{ports[name]}" for name in ("collector-1", "collector-2")]
    try:
        report = await steady_load(collectors, site_id, batches=EVENTS // 10, size=10)
        assert set(report.statuses) == {202}, report.statuses
        assert len(report.accepted) == EVENTS

        stored = await wait_stored(settings, report.accepted)
        ids, rows = await stored_ids(settings)
        assert ids == report.accepted == stored
        assert rows == EVENTS  # no event twice

        # Both workers wrote a share, and their shares add up to what is stored.
        shares = {name: inserted_by(logs[name]) for name in WORKERS}
        assert all(share > 0 for share in shares.values()), shares
        assert sum(shares.values()) == EVENTS, shares

        # The API process reads the rollups: each event counted once there too.
        today = datetime.now(UTC).date()
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(
                f"http://127.0.0.1:{ports['api']}/v1/query",
                json={
                    "site_id": site_id,
                    "metrics": ["pageviews"],
                    "date_range": [(today - timedelta(days=1)).isoformat(), today.isoformat()],
                },
                headers={"authorization": f"Bearer {key}"},
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["results"][0]["metrics"] == [EVENTS]
            gpc = await client.get(f"http://127.0.0.1:{ports['consent']}/.well-known/gpc.json")
            assert gpc.status_code == 200
    finally:
        codes = await asyncio.gather(
            *(stop_overt(process, signal.SIGTERM) for process in processes.values())
        )
    assert codes == [0] * len(processes), {n: logs[n].read_text()[-2000:] for n in names}
    # Drained: nothing left unacknowledged in the stream.
    assert settings.redis_url
    redis = Redis.from_url(settings.redis_url)
    try:
        queue = RedisStreamQueue(redis, prefix=settings.redis_prefix, consumer="inspector")
        assert set((await queue.consumers()).values()) <= {0}
        assert await queue.depth() == 0
    finally:
        await redis.aclose()
