"""Promise 6 under faults: kill -9 a worker, restart Redis, restart PostgreSQL, under load;
and data the database refuses (the dead letter), which must not stop ingestion.

Private servers (tests/helpers/servers.py) on other ports, owned by these tests: the shared
ones are never touched. One PostgreSQL cluster for the module, a database and a Redis per
test. Afterwards every accepted event is stored, none twice, and the collector answered
503 (never 500) while a dependency was down; the load client resends what got a 503.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from services.collector.worker import RETRY_DELAYS
from shared.db import create_engine
from shared.deadletter import RedisDeadLetters
from shared.migrate import upgrade_head
from shared.models import events
from shared.queue import RedisStreamQueue
from shared.settings import Settings
from shared.sites import create_site
from tests.helpers.backends import free_port, unavailable
from tests.helpers.load import (
    HEADERS,
    LoadReport,
    session_totals,
    steady_load,
    stored_ids,
    wait_stored,
)
from tests.helpers.processes import start_all, start_service, stop_overt
from tests.helpers.servers import PrivatePostgres, PrivateRedis, available

# Bounded: each test runs a few seconds of load; the margin is for process start-up on a
# busy machine. `make test` runs the slice (a worker killed mid-batch, and a smaller seeded
# data-fault load); the outages of Redis and PostgreSQL, SIGTERM under load and the full
# data-fault load are nightly (`make nightly`).
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]

WORKER_ENV = {
    "ingest_batch_entries": "10",
    "claim_idle_ms": "1000",
    "slice_lease_ms": "1500",
    "log_level": "DEBUG",
}


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    reason = available()
    if reason is not None:
        unavailable("private PostgreSQL and Redis servers", reason)
    # Not under pytest's tmp dir: that one is private to root, and the cluster may belong
    # to the postgres user.
    directory = Path(tempfile.mkdtemp(prefix="overt-faults-pg-"))
    server = PrivatePostgres(directory)
    try:
        server.init()
        asyncio.run(server.start())
        yield server
        asyncio.run(server.stop("fast"))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Stack:
    """One test's servers and `overt` processes."""

    settings: Settings
    postgres: PrivatePostgres
    redis: PrivateRedis
    site_id: str
    logs: Path
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    async def start(self, **services: dict[str, str]) -> None:
        """Start processes named like `collector` or `worker_a` (the service is the prefix)."""
        starts = {}
        for name, env in services.items():
            self.ports[name] = free_port()
            service = name.split("_")[0]
            if service == "worker":
                env = {"worker_name": name, **env}
            starts[name] = start_service(
                self.settings, service, self.ports[name], self.logs / f"{name}.log", **env
            )
        self.processes.update(await start_all(starts))

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    async def consumers(self) -> dict[str, int]:
        redis = Redis.from_url(self.redis.url)
        try:
            queue = RedisStreamQueue(
                redis,
                prefix=self.settings.redis_prefix,
                consumer="probe",
                slices=self.settings.queue_slices,
            )
            found = await queue.consumers()
            found.pop("probe", None)
            return found
        finally:
            await redis.aclose()


@pytest.fixture
async def stack(private_postgres: PrivatePostgres, tmp_path: Path) -> AsyncIterator[Stack]:
    database = f"overt_fault_{uuid.uuid4().hex[:10]}"
    await private_postgres.create_database(database)
    redis = PrivateRedis(tmp_path / "redis")
    await redis.start()
    settings = Settings(
        database_url=private_postgres.url(database),
        redis_url=redis.url,
        redis_prefix="overt",
        secret_key="f" * 40,
    )
    await asyncio.to_thread(upgrade_head, settings)
    engine = create_engine(settings)
    site = await create_site(engine=engine, domain="example.com")
    await engine.dispose()
    built = Stack(settings, private_postgres, redis, site.id, tmp_path)
    try:
        yield built
    finally:
        for process in built.processes.values():
            if process.returncode is None:
                process.kill()
                await process.wait()
        redis.kill()


async def assert_exactly_once(stack: Stack, report: LoadReport) -> None:
    assert report.accepted, "the load was not accepted at all"
    stored = await wait_stored(stack.settings, report.accepted, timeout=60)
    ids, rows = await stored_ids(stack.settings)
    assert report.accepted <= stored, f"{len(report.accepted - stored)} accepted events lost"
    assert ids == report.accepted  # nothing stored that was never accepted
    assert rows == len(ids)  # and nothing twice


async def test_worker_killed_mid_batch(stack: Stack) -> None:
    # Session changes are folded into `sessions` only when a worker takes a slice over or
    # stops: worker_a dies with all of its own still in the log.
    env = {**WORKER_ENV, "session_fold_ms": "600000"}
    await stack.start(collector={}, worker_a=env, worker_b=env)
    stop = asyncio.Event()
    load = asyncio.create_task(
        steady_load(
            [stack.url("collector")],
            stack.site_id,
            batches=3000,
            size=5,
            until=stop,
            visitors=64,  # in both workers' slices
        )
    )
    # kill -9 worker_a while it holds a batch it has read and not acknowledged.
    held = 0
    for _attempt in range(3):
        async with asyncio.timeout(30):
            while (await stack.consumers()).get("worker_a", 0) == 0:
                await asyncio.sleep(0.01)
        stack.processes["worker_a"].send_signal(signal.SIGKILL)
        await stack.processes["worker_a"].wait()
        held = (await stack.consumers()).get("worker_a", 0)
        if held:
            break
        await stack.start(worker_a=env)  # it acked just before dying: try again
    assert held > 0, "worker_a was never killed holding a batch"
    await asyncio.sleep(1.5)  # the load goes on; worker_b takes the slices over once expired
    stop.set()
    report = await load

    assert set(report.statuses) == {202}, report.statuses
    await assert_exactly_once(stack, report)
    assert "took over a slice's pending entries" in stack.log("worker_b")
    # The dead consumer had its entries taken over, then it left the group.
    async with asyncio.timeout(30):
        while "worker_a" in await stack.consumers():
            await asyncio.sleep(0.2)
    assert await stop_overt(stack.processes["worker_b"], signal.SIGTERM) == 0
    # worker_b folded what worker_a logged before continuing its sessions, and its own
    # changes when it stopped: every session's row agrees with its events.
    in_rows, from_events = await session_totals(stack.settings)
    assert from_events
    assert in_rows == from_events


async def outage_under_load(
    stack: Stack,
    take_down: Callable[[], Awaitable[None]],
    bring_up: Callable[[], Awaitable[None]],
) -> tuple[LoadReport, int]:
    """A steady load with a 1.5 s outage in it; returns the load and the /readyz seen down."""
    await stack.start(collector={}, worker_a=WORKER_ENV)
    stop, running = asyncio.Event(), LoadReport()
    load = asyncio.create_task(
        steady_load(
            [stack.url("collector")],
            stack.site_id,
            batches=3000,
            size=5,
            until=stop,
            report=running,
        )
    )
    async with asyncio.timeout(30):  # the load is under way before the outage
        while len(running.accepted) < 100:
            await asyncio.sleep(0.05)
    await take_down()
    async with httpx.AsyncClient() as client:
        ready = await client.get(f"{stack.url('collector')}/readyz")
    await asyncio.sleep(1.5)
    await bring_up()
    await asyncio.sleep(1.0)
    stop.set()
    return await load, ready.status_code


@pytest.mark.nightly
async def test_redis_killed_and_restarted(stack: Stack) -> None:
    async def kill() -> None:
        stack.redis.kill()  # kill -9: only the AOF (fsync always) survives

    # Same port, same directory: the AOF is replayed.
    report, ready = await outage_under_load(stack, kill, stack.redis.start)

    assert ready == 503
    assert 500 not in report.statuses, report.statuses
    assert report.statuses[503] > 0, report.statuses  # refused while down, then resent
    assert set(report.statuses) <= {202, 503}, report.statuses
    await assert_exactly_once(stack, report)


@pytest.mark.nightly
async def test_postgres_restarted(stack: Stack) -> None:
    async def crash() -> None:
        await stack.postgres.stop("immediate")  # recovery from the WAL at the next start

    report, ready = await outage_under_load(stack, crash, stack.postgres.start)

    assert ready == 503  # the collector is not ready while its database is down
    assert 500 not in report.statuses, report.statuses
    assert set(report.statuses) <= {202, 503}, report.statuses
    await assert_exactly_once(stack, report)
    assert "batch write failed" in stack.log("worker_a")  # the outage reached the worker


@pytest.mark.nightly
async def test_sigterm_under_load_drains_collector_and_worker(stack: Stack) -> None:
    """Graceful shutdown: what a stopping collector answered 202 is queued, and a stopping
    worker commits and acknowledges the batch in hand before it exits."""
    await stack.start(collector_1={}, collector_2={}, worker_a=WORKER_ENV)
    stop, running = asyncio.Event(), LoadReport()
    urls = [stack.url("collector_1"), stack.url("collector_2")]
    load = asyncio.create_task(
        steady_load(urls, stack.site_id, batches=3000, size=5, until=stop, report=running)
    )
    async with asyncio.timeout(30):  # under way: accepted by both collectors, some written
        while len(running.accepted) < 200 or not (await stored_ids(stack.settings))[1]:
            await asyncio.sleep(0.1)
    codes = await asyncio.gather(
        stop_overt(stack.processes["collector_1"], signal.SIGTERM),
        stop_overt(stack.processes["worker_a"], signal.SIGTERM),
    )
    assert list(codes) == [0, 0]
    assert (await stack.consumers()).get("worker_a") == 0  # nothing left unacknowledged
    await stack.start(worker_b=WORKER_ENV)  # the load went on; a new worker drains it
    await asyncio.sleep(0.5)
    stop.set()
    report = await load

    assert set(report.statuses) == {202}, report.statuses
    await assert_exactly_once(stack, report)
    assert "batch written" in stack.log("worker_a")
    assert "batch written" in stack.log("worker_b")


# Finding 1 of issue 17: what PostgreSQL refused and stopped all ingestion with.
CFNETWORK_UA = "A" * 100 + "/1.0 CFNetwork/1209 Darwin/20.2.0"
LONG_SUBDOMAIN = ".".join(["a" * 63] * 4 + ["a" * 62, "a"])  # 320 characters


def trigger_bodies(site_id: str) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """The four triggers: (event id, extra headers, /e body)."""
    bodies = [
        ({}, {"n": "sign\x00up", "u": "https://example.com/"}),
        ({}, {"n": "pageview", "u": "https://example.com/?utm_campaign=spring%00sale"}),
        ({}, {"n": "pageview", "u": f"https://{LONG_SUBDOMAIN}.example.com/"}),
        ({"user-agent": CFNETWORK_UA}, {"n": "pageview", "u": "https://example.com/app"}),
    ]
    made = []
    for headers, body in bodies:
        event_id = uuid.uuid4().hex
        made.append((event_id, headers, {"s": site_id, "i": event_id, **body}))
    return made


def queue_record(site_id: str, rng: random.Random, **fields: object) -> dict[str, object]:
    """A queue record as the collector makes it (a visitor of its own)."""
    return {
        "id": uuid.uuid4().hex,
        "site": site_id,
        "at": int(time.time() * 1000),
        "name": "pageview",
        "visitor": rng.randrange(1, 2**62),
        "host": "example.com",
        "path": f"/raw/{rng.randrange(100)}",
        **fields,
    }


# Values no `events` column holds on PostgreSQL: each makes one record a data fault.
HOSTILE_FIELDS: list[dict[str, object]] = [
    {"path": "/nul\x00path"},
    {"utm_campaign": "spring\x00sale"},
    {"host": "h" * 300},
    {"browser": "B" * 100},
    {"country": "XYZ"},
    {"name": "n" * 200},
    {"scroll": 70_000},
    {"engaged_ms": 2**40},
    {"visitor": 2**70},
    {"id": "not a hex id"},
]


def hostile_entries(
    site_id: str, rng: random.Random, entries: int
) -> tuple[list[bytes], set[str], set[str]]:
    """Queue entries mixing hostile records among good ones, published straight into the
    stream (past /e's checks); returns them, the good ids and the hostile ids."""
    payloads: list[bytes] = []
    good: set[str] = set()
    bad: set[str] = set()
    for _ in range(entries):
        records = [queue_record(site_id, rng) for _ in range(rng.randrange(2, 6))]
        good.update(str(record["id"]) for record in records)
        for fields in rng.sample(HOSTILE_FIELDS, rng.randrange(1, 3)):
            hostile = queue_record(site_id, rng, **fields)
            bad.add(str(hostile["id"]))
            records.insert(rng.randrange(len(records) + 1), hostile)
        payloads.append(json.dumps(records).encode())  # the stdlib: integers of any size
    return payloads, good, bad


@dataclass
class Progress:
    """Stored events counted while the test runs: the longest time with none new."""

    longest_stall: float = 0.0
    samples: int = 0


async def watch_progress(settings: Settings, progress: Progress, until: asyncio.Event) -> None:
    engine = create_engine(settings)
    try:
        last_count, last_change = -1, time.monotonic()
        while not until.is_set():
            async with engine.connect() as conn:
                count = (await conn.execute(select(func.count()).select_from(events))).scalar()
            now = time.monotonic()
            if count != last_count:
                last_count, last_change = int(count or 0), now
            progress.longest_stall = max(progress.longest_stall, now - last_change)
            progress.samples += 1
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "entries",
    [pytest.param(4, id="slice"), pytest.param(20, id="full", marks=pytest.mark.nightly)],
)
async def test_data_faults_are_dead_lettered_and_ingestion_goes_on(
    stack: Stack, entries: int
) -> None:
    """Two workers; the four triggers of finding 1 through /e and hostile records straight
    into the stream, among a steady load of good events: every good event stored once,
    every bad one refused at /e or in the dead letter (accepted == stored +
    dead-lettered), and the stored count never stands still for a retry interval."""
    await stack.start(collector={}, worker_a=WORKER_ENV, worker_b=WORKER_ENV)
    rng = random.Random(17)
    stop, running = asyncio.Event(), LoadReport()
    load = asyncio.create_task(
        steady_load(
            [stack.url("collector")],
            stack.site_id,
            batches=3000,
            size=5,
            until=stop,
            report=running,
        )
    )
    progress, watched = Progress(), asyncio.Event()
    watcher = asyncio.create_task(watch_progress(stack.settings, progress, watched))
    async with asyncio.timeout(30):  # the load is under way
        while len(running.accepted) < 100:
            await asyncio.sleep(0.05)

    # The four triggers through /e: refused (4xx) or accepted, never a 5xx.
    accepted_triggers: set[str] = set()
    async with httpx.AsyncClient(base_url=stack.url("collector")) as client:
        for event_id, headers, body in trigger_bodies(stack.site_id):
            response = await client.post("/e", content=json.dumps(body), headers=HEADERS | headers)
            assert response.status_code < 500, (body, response.status_code)
            if response.status_code == 202:
                accepted_triggers.add(event_id)
            else:
                assert response.headers["content-type"].startswith("application/problem+json")
    # Hostile records, and entries that do not decode at all, straight into the stream.
    payloads, raw_good, raw_bad = hostile_entries(stack.site_id, rng, entries=entries)
    undecodable = [b"{not json", b"[" * 50_000]
    redis = Redis.from_url(stack.redis.url)
    try:
        for payload in [*payloads, *undecodable]:
            await redis.xadd(f"{stack.settings.redis_prefix}:events", {"p": payload})
        await asyncio.sleep(2.0)  # the load goes on past them
        stop.set()
        report = await load

        assert set(report.statuses) == {202}, report.statuses
        dead_letters = RedisDeadLetters(redis, prefix=stack.settings.redis_prefix)
        accepted = report.accepted | accepted_triggers | raw_good | raw_bad

        async def settled() -> tuple[set[str], int, set[str], list[bytes]]:
            stored, rows = await stored_ids(stack.settings)
            dead: set[str] = set()
            raw: list[bytes] = []
            for entry in await dead_letters.entries():
                try:
                    dead.update(str(record["id"]) for record in json.loads(entry.payload))
                except (ValueError, RecursionError):
                    raw.append(entry.payload)
            return stored, rows, dead, raw

        async with asyncio.timeout(60):
            while True:
                stored, rows, dead, raw = await settled()
                if stored | dead >= accepted and len(raw) >= len(undecodable):
                    break
                await asyncio.sleep(0.2)
    finally:
        await redis.aclose()
        watched.set()
        await watcher

    assert rows == len(stored)  # zero duplicates
    assert stored.isdisjoint(dead)  # nothing both stored and dead-lettered
    assert stored | dead == accepted  # accepted == stored + dead-lettered, nothing else
    assert report.accepted | raw_good <= stored  # every good event stored
    assert raw_bad <= dead  # every hostile record in the dead letter
    assert sorted(raw) == sorted(undecodable)
    # Ingestion never paused for as long as one retry interval (the longest backoff): the
    # bad entries were set aside at once, not retried while the good ones waited.
    assert progress.samples > 10
    assert progress.longest_stall < max(RETRY_DELAYS), progress
    assert "dead-lettered" in stack.log("worker_a") + stack.log("worker_b")
    for name in ("worker_a", "worker_b"):  # the log says what and where, never the data
        assert "spring" not in stack.log(name)
        assert "CFNetwork" not in stack.log(name)
