"""Fixtures: every storage and queue test runs on SQLite + in-process and Postgres + Redis.

Real servers only. Postgres and Redis on 127.0.0.1 (5432, 6379); with CI=true an unreachable
one fails the run instead of skipping its half of the suite.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from shared.migrate import upgrade_head
from shared.runtime import Resources, open_resources
from shared.settings import Settings
from tests.helpers.backends import BACKENDS, PG_ADMIN_URL, make_settings
from tests.helpers.overt import Overt, overt_on


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


@pytest.fixture(params=BACKENDS)
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_database: str | None
) -> Iterator[Settings]:
    yield from make_settings(request.param, tmp_path, sqlite_template, pg_database)


@pytest.fixture
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(settings) as opened:
        yield opened


@pytest.fixture
async def overt(resources: Resources) -> AsyncIterator[Overt]:
    async with overt_on(resources) as opened:
        yield opened


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
