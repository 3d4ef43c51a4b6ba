"""Fixtures: every storage and queue test runs on SQLite + in-process and Postgres + Redis.

Real servers only. Postgres and Redis on 127.0.0.1 (5432, 6379); with CI=true an unreachable
one fails the run instead of skipping its half of the suite.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
import redis
from fastapi import FastAPI

from services.api.router import router as api_router
from services.api.schemas import Scope
from services.api.service import create_key
from services.collector.router import EventIntakeMiddleware
from services.collector.router import router as collector_router
from services.collector.worker import run_ingest
from services.consent import models as consent_models  # noqa: F401  (tables on `metadata`)
from services.consent.router import router as consent_router
from shared.app import asgi_app, build_app
from shared.db import metadata
from shared.migrate import upgrade_head
from shared.queue import EventQueue
from shared.runtime import Resources, open_resources
from shared.settings import Settings
from shared.sites import Site, create_site

PG_ADMIN_URL = os.environ.get("OVERT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("OVERT_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ("sqlite", "postgres")


def unavailable(what: str, why: str) -> None:
    """A missing real dependency: a failure in CI, a skip on a developer's machine."""
    message = f"{what} is not reachable ({why}); CI=true makes this a failure"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (the migrations are the schema)."""
    path = tmp_path_factory.mktemp("template") / "overt.db"
    upgrade_head(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """A fresh, migrated Postgres database for this test session (dropped at the end)."""
    name = f"overt_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError):
        yield None
        return
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    url = f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    upgrade_head(Settings(database_url=url, secret_key="x" * 32))
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _truncate_postgres(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)

    async def run() -> None:
        conn = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=5)
        try:
            await conn.execute(f"TRUNCATE {tables} CASCADE")
        finally:
            await conn.close()

    asyncio.run(run())


def _redis_or_none() -> redis.Redis | None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        return None
    return client


def make_settings(
    backend: str, tmp_path: Path, sqlite_template: Path, pg_database: str | None
) -> Iterator[Settings]:
    if backend == "sqlite":
        path = tmp_path / "overt.db"
        shutil.copy(sqlite_template, path)
        yield Settings(database_url=f"sqlite+aiosqlite:///{path}", log_format="text")
        return
    if pg_database is None:
        unavailable("PostgreSQL at 127.0.0.1:5432", "connection failed")
    client = _redis_or_none()
    if client is None:
        unavailable("Redis at 127.0.0.1:6379", "ping failed")
    assert pg_database is not None
    assert client is not None
    _truncate_postgres(pg_database)
    prefix = f"overt-test-{uuid.uuid4().hex[:12]}"
    yield Settings(
        database_url=pg_database,
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        secret_key="s" * 40,
        log_format="text",
    )
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=BACKENDS)
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_database: str | None
) -> Iterator[Settings]:
    yield from make_settings(request.param, tmp_path, sqlite_template, pg_database)


@pytest.fixture
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(settings) as opened:
        yield opened


def make_app(resources: Resources, *, worker: bool = True) -> FastAPI:
    """All three services in one app, like `overt up`, optionally with the ingest worker."""
    return build_app(
        title="Overt (test)",
        settings=resources.settings,
        routers=[collector_router, consent_router, api_router],
        resources=resources,
        background=[run_ingest] if worker else [],
        front=[EventIntakeMiddleware],
    )


async def wait_drained(queue: EventQueue, timeout: float = 15.0) -> None:
    """Wait until an ingest worker has committed everything queued (bounded)."""
    async with asyncio.timeout(timeout):
        while await queue.depth():
            await asyncio.sleep(0.01)


@dataclass
class Overt:
    """A running all-in-one app under test, with one registered site and a stats key."""

    resources: Resources
    app: FastAPI
    client: httpx.AsyncClient
    site: Site
    key: str

    def event(self, **overrides: object) -> dict[str, object]:
        body: dict[str, object] = {
            "s": self.site.id,
            "n": "pageview",
            "u": "https://example.com/pricing",
            "r": None,
            "i": uuid.uuid4().hex,
        }
        body.update(overrides)
        return body

    async def send(self, body: object, **headers: str) -> httpx.Response:
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        return await self.client.post(
            "/e",
            content=content,
            headers={
                "content-type": "text/plain",
                "origin": "https://example.com",
                "user-agent": "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0",
                **headers,
            },
        )

    async def drained(self) -> None:
        await wait_drained(self.resources.queue)

    async def query(
        self,
        site_id: str | None = None,
        key: str | None = None,
        date_range: tuple[str, str] | None = None,
    ) -> httpx.Response:
        await self.drained()
        today = datetime.now(UTC).date().isoformat()
        return await self.client.post(
            "/v1/query",
            json={
                "site_id": site_id or self.site.id,
                "metrics": ["visitors", "pageviews"],
                "date_range": list(date_range or (today, today)),
            },
            headers={"authorization": f"Bearer {key or self.key}"},
        )


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=asgi_app(app), client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://overt.test") as client:
            yield client


@pytest.fixture
async def overt(resources: Resources) -> AsyncIterator[Overt]:
    site = await create_site(engine=resources.engine, domain="example.com")
    _, key = await create_key(engine=resources.engine, site_id=site.id, scopes=[Scope.stats_read])
    app = make_app(resources)
    async with running(app) as client:
        yield Overt(resources=resources, app=app, client=client, site=site, key=key)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sqlite_settings(tmp_path: Path, sqlite_template: Path) -> Iterator[Settings]:
    """For the few tests about the embedded mode only."""
    yield from make_settings("sqlite", tmp_path, sqlite_template, None)


@pytest.fixture
def postgres_settings(
    tmp_path: Path, sqlite_template: Path, pg_database: str | None
) -> Iterator[Settings]:
    """For the few tests about Postgres + Redis only."""
    yield from make_settings("postgres", tmp_path, sqlite_template, pg_database)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Tests that call configure_logging must not change the logging of later tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("aiosqlite", "uvicorn.access")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
