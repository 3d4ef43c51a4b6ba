"""The production topology without containers: 2 collectors, 2 workers, consent and api.

Real `overt serve` processes on loopback against PostgreSQL and Redis. Every accepted
event is stored exactly once, both workers wrote a share, and SIGTERM drains each process.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from shared.db import create_engine
from shared.models import events, sessions
from shared.queue import RedisStreamQueue
from shared.settings import Settings
from tests.helpers.backends import free_port
from tests.helpers.load import (
    HEADERS,
    LoadReport,
    site_with_key,
    steady_load,
    stored_ids,
    wait_stored,
)
from tests.helpers.processes import start_all, start_service, stop_overt

# Six Python processes start at once: on a busy 2-CPU machine that alone can take a minute.
# `make test` runs each proof at a smaller N (the slice); `make nightly` at full size, and
# the killed worker's slices moving (a worker killed mid-batch is in test_faults's slice).
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300)]

EVENTS = 2000
SLICE_EVENTS = 400
LEASE_MS = 1500
WORKERS = ("worker-a", "worker-b")


async def lease_holders(settings: Settings) -> dict[int, str]:
    """Each leased slice with the worker holding it."""
    assert settings.redis_url
    redis = Redis.from_url(settings.redis_url)
    try:
        holders: dict[int, str] = {}
        for index in range(settings.queue_slices):
            token = await redis.get(f"{settings.redis_prefix}:lease:{index}")
            if token is not None:
                text = token.decode() if isinstance(token, bytes) else str(token)
                holders[index] = text.split("/", 1)[0]
    finally:
        await redis.aclose()
    return holders


async def wait_leases(settings: Settings, workers: tuple[str, ...]) -> dict[int, str]:
    """Wait until every slice is leased and each of these workers holds its fair share."""
    fair = -(-settings.queue_slices // len(workers))
    async with asyncio.timeout(60):
        while True:
            holders = await lease_holders(settings)
            shares = [list(holders.values()).count(name) for name in workers]
            if len(holders) == settings.queue_slices and all(
                fair - 1 <= share <= fair for share in shares
            ):
                return holders
            await asyncio.sleep(0.1)


def inserted_by(log: Path) -> int:
    """Events a worker reports as newly written (its DEBUG 'batch written' lines)."""
    total = 0
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            entry = orjson.loads(line)
            if entry.get("msg") == "batch written":
                total += int(entry["inserted"])
    return total


@pytest.mark.parametrize(
    "total",
    [
        pytest.param(SLICE_EVENTS, id="slice"),
        pytest.param(EVENTS, id="full", marks=pytest.mark.nightly),
    ],
)
async def test_two_collectors_two_workers_store_each_accepted_event_once(
    postgres_settings: Settings, tmp_path: Path, total: int
) -> None:
    settings = postgres_settings
    site_id, key = await site_with_key(settings)

    names = ("collector-1", "collector-2", *WORKERS, "consent", "api")
    ports = {name: free_port() for name in names}
    logs = {name: tmp_path / f"{name}.log" for name in names}
    worker_env = {
        "log_level": "DEBUG",
        "ingest_batch_entries": "20",
        "claim_idle_ms": "5000",
        "slice_lease_ms": str(LEASE_MS),
    }
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
        await wait_leases(settings, WORKERS)
        # Visitors enough that each worker's slices hold some.
        report = await steady_load(collectors, site_id, batches=total // 10, size=10, visitors=64)
        assert set(report.statuses) == {202}, report.statuses
        assert len(report.accepted) == total

        stored = await wait_stored(settings, report.accepted)
        ids, rows = await stored_ids(settings)
        assert ids == report.accepted == stored
        assert rows == total  # no event twice

        # Both workers wrote a share, and their shares add up to what is stored.
        shares = {name: inserted_by(logs[name]) for name in WORKERS}
        assert all(share > 0 for share in shares.values()), shares
        assert sum(shares.values()) == total, shares

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
            assert answer.json()["results"][0]["metrics"] == [total]
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


ONE_VISITOR_PAGEVIEWS = 300
SLICE_PAGEVIEWS = 60
ENGAGED_MS = 1000


async def send_one_visit(collector: str, site_id: str, pageviews: int) -> None:
    """One visitor's visit as the snippet sends it: a request per page, each holding the
    engagement of the page before (sent on page hide) and the next pageview, in order."""
    previous: str | None = None
    async with httpx.AsyncClient(timeout=15) as client:
        for number in range(pageviews + 1):
            body: list[dict[str, object]] = []
            url = f"https://example.com/p{number % 7}"
            if previous is not None:
                body.append(
                    {
                        "s": site_id,
                        "n": "engagement",
                        "u": url,
                        "i": uuid.uuid4().hex,
                        "v": previous,
                        "e": ENGAGED_MS,
                    }
                )
            if number < pageviews:
                previous = uuid.uuid4().hex
                body.append({"s": site_id, "n": "pageview", "u": url, "i": previous})
            answer = await client.post(
                f"{collector}/e", content=orjson.dumps(body), headers=HEADERS
            )
            assert answer.status_code == 202, answer.text


async def events_of(settings: Settings, site_id: str) -> int:
    """The site's `events` rows (its sessions are committed with them)."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            count = select(func.count()).select_from(events).where(events.c.site_id == site_id)
            return int((await conn.execute(count)).scalar_one())
    finally:
        await engine.dispose()


async def session_facts(settings: Settings, site_id: str) -> tuple[int, int, int, int]:
    """The site's (sessions, pageviews, engaged_ms, events) as the `sessions` rows say."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        func.count(),
                        func.coalesce(func.sum(sessions.c.pageviews), 0),
                        func.coalesce(func.sum(sessions.c.engaged_ms), 0),
                        func.coalesce(func.sum(sessions.c.events), 0),
                    ).where(sessions.c.site_id == site_id)
                )
            ).one()
    finally:
        await engine.dispose()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


@pytest.mark.parametrize(
    "pageviews",
    [
        pytest.param(SLICE_PAGEVIEWS, id="slice"),
        pytest.param(ONE_VISITOR_PAGEVIEWS, id="full", marks=pytest.mark.nightly),
    ],
)
async def test_one_visitor_across_three_workers_keeps_exact_session_facts(
    postgres_settings: Settings, tmp_path: Path, pageviews: int
) -> None:
    """A backlog of one visitor's entries drained by three workers at once: the visit is
    one session whose facts are what its events say (no worker overwrites another's)."""
    settings = postgres_settings
    site_id, _ = await site_with_key(settings)
    collector_port = free_port()
    collector = await start_service(
        settings, "collector", collector_port, tmp_path / "collector.log"
    )
    workers: dict[str, asyncio.subprocess.Process] = {}
    try:
        # Queued while no worker runs, so that the workers then read it at the same time.
        await send_one_visit(f"http://127.0.0.1:{collector_port}", site_id, pageviews)
        names = ("worker-a", "worker-b", "worker-c")
        ports = {name: free_port() for name in names}
        workers = await start_all(
            {
                name: start_service(
                    settings,
                    "worker",
                    ports[name],
                    tmp_path / f"{name}.log",
                    worker_name=name,
                    ingest_batch_entries="2",
                )
                for name in names
            }
        )
        expected_events = 2 * pageviews
        async with asyncio.timeout(120):
            while await events_of(settings, site_id) < expected_events:
                await asyncio.sleep(0.2)
    finally:
        await asyncio.gather(
            *(stop_overt(p, signal.SIGTERM) for p in (collector, *workers.values()))
        )
    assert await session_facts(settings, site_id) == (
        1,
        pageviews,
        pageviews * ENGAGED_MS,
        expected_events,
    )


async def facts_by_session(
    settings: Settings, site_id: str
) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
    """Per session id: (events, pageviews) as `sessions` says, and as `events` says."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(sessions.c.session_id, sessions.c.events, sessions.c.pageviews).where(
                    sessions.c.site_id == site_id
                )
            )
            said = {row.session_id.hex: (row.events, row.pageviews) for row in rows}
            counted = await conn.execute(
                select(
                    events.c.session_id,
                    func.count(),
                    func.count().filter(events.c.name == "pageview"),
                )
                .where(events.c.site_id == site_id)
                .group_by(events.c.session_id)
            )
            told = {
                (row[0].hex if row[0] is not None else "none"): (int(row[1]), int(row[2]))
                for row in counted
            }
    finally:
        await engine.dispose()
    return said, told


@pytest.mark.nightly
async def test_a_killed_workers_slices_move_and_nothing_is_lost_or_doubled(
    postgres_settings: Settings, tmp_path: Path
) -> None:
    settings = postgres_settings
    site_id, _ = await site_with_key(settings)
    names = ("collector", *WORKERS)
    ports = {name: free_port() for name in names}
    logs = {name: tmp_path / f"{name}.log" for name in names}
    starts = {
        "collector": start_service(settings, "collector", ports["collector"], logs["collector"])
    }
    for name in WORKERS:
        starts[name] = start_service(
            settings,
            "worker",
            ports[name],
            logs[name],
            worker_name=name,
            log_level="DEBUG",
            ingest_batch_entries="5",
            slice_lease_ms=str(LEASE_MS),
        )
    processes = await start_all(starts)
    stop, running = asyncio.Event(), LoadReport()
    try:
        holders = await wait_leases(settings, WORKERS)
        load = asyncio.create_task(
            steady_load(
                [f"http://127.0.0.1:{ports['collector']}"],
                site_id,
                batches=3000,
                size=5,
                until=stop,
                report=running,
                visitors=64,
            )
        )
        async with asyncio.timeout(60):  # worker-a is writing its share
            while inserted_by(logs["worker-a"]) == 0:
                await asyncio.sleep(0.05)
        processes["worker-a"].send_signal(signal.SIGKILL)
        await processes["worker-a"].wait()
        # Its slices move to worker-b once their leases expire; the load goes on meanwhile.
        moved = await wait_leases(settings, ("worker-b",))
        assert {index for index, name in holders.items() if name == "worker-a"} <= moved.keys()
        async with asyncio.timeout(30):
            accepted = len(running.accepted)
            while len(running.accepted) < accepted + 200:
                await asyncio.sleep(0.05)
        stop.set()
        report = await load
        assert set(report.statuses) == {202}, report.statuses
        stored = await wait_stored(settings, report.accepted)
    finally:
        await asyncio.gather(
            *(stop_overt(p, signal.SIGTERM) for p in processes.values() if p.returncode is None)
        )
    assert stored >= report.accepted
    assert await events_of(settings, site_id) == len(report.accepted)  # none twice
    said, told = await facts_by_session(settings, site_id)
    assert "none" not in told  # every pageview found its session
    assert said == told  # each session's facts are what its events say
