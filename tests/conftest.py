"""Fixtures: every storage and queue test runs on SQLite + in-process and Postgres + Redis.

Real servers only. Postgres and Redis on 127.0.0.1 (5432, 6379); with CI=true an unreachable
one fails the run instead of skipping its half of the suite.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import hypothesis
import pytest

from shared.migrate import upgrade_head
from shared.runtime import Resources, open_resources
from shared.settings import Settings
from tests.helpers.backends import BACKENDS, PG_ADMIN_URL, make_settings
from tests.helpers.overt import Overt, overt_on

# Every property test states its own example count, sized for `make test`. A deeper run
# (before a release, after a parser change) multiplies them all: OVERT_HYPOTHESIS_SCALE=10.
# The schemathesis fuzz has its own knob (OVERT_FUZZ_EXAMPLES) and is left alone here.
HYPOTHESIS_SCALE = int(os.environ.get("OVERT_HYPOTHESIS_SCALE", "1"))
FUZZ_MODULE = Path(__file__).parent / "adversarial" / "test_openapi.py"


# Whole-process tests whose SQLite run stays in `make test`; their PostgreSQL run is nightly
# (Postgres and Redis storage is proven on every run by the suites that need no process).
POSTGRES_NIGHTLY = (
    "tests/api/test_python_client.py::test_the_client_against_a_running_overt",
    "tests/e2e/test_shutdown.py::test_ctrl_c_under_load_drains_and_loses_nothing",
    "tests/consent/test_receipt_jws.py::test_the_readme_example_verifies_a_receipt_of_a_running_overt",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(POSTGRES_NIGHTLY) and item.nodeid.endswith("[postgres]"):
            item.add_marker(pytest.mark.nightly)
    if HYPOTHESIS_SCALE == 1:
        return
    scaled: set[int] = set()
    for item in items:
        test = getattr(item, "obj", None)
        chosen = getattr(test, "_hypothesis_internal_use_settings", None)
        # One function serves every parametrized item (both backends): scale it once.
        if chosen is None or id(test) in scaled or item.path == FUZZ_MODULE:
            continue
        scaled.add(id(test))
        # The attribute hypothesis's @given wrapper reads its settings from on every call.
        test._hypothesis_internal_use_settings = hypothesis.settings(  # type: ignore[union-attr]
            chosen, max_examples=chosen.max_examples * HYPOTHESIS_SCALE
        )


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
