"""The real backends every storage and queue test runs on, how a missing one is reported,
and a free port on loopback.

Postgres and Redis on 127.0.0.1 (5432, 6379); with CI=true an unreachable one fails the run
instead of skipping its half of the suite.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from services.consent import models as consent_models  # noqa: F401  (tables on `metadata`)
from shared.db import metadata
from shared.settings import Settings

PG_ADMIN_URL = os.environ.get("OVERT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("OVERT_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ("sqlite", "postgres")
METRICS_TOKEN = "metrics-token-for-tests-" + "m" * 16


def unavailable(what: str, why: str) -> None:
    """A missing real dependency: a failure in CI, a skip on a developer's machine."""
    message = f"{what} is not reachable ({why}); CI=true makes this a failure"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def empty_postgres(url: str) -> None:
    """Every table emptied for the next test, by DELETE, not TRUNCATE.

    A TRUNCATE gives each table, partition and index a new file, which the next checkpoint
    must fsync: a suite's worth (~190k files in five minutes) made checkpoints take minutes,
    and a DROP DATABASE, which waits for one, outlasted its test's timeout. A DELETE of the
    few rows a test writes touches no new file. `session_replication_role = replica`
    (superuser, as the test role is) skips the foreign-key and append-only triggers, so the
    order of the tables does not matter and the consent ledger can be emptied too."""
    statements = "".join(f'DELETE FROM "{t.name}";' for t in metadata.sorted_tables)

    async def run() -> None:
        conn = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=5)
        try:
            await conn.execute(f"SET session_replication_role = replica;{statements}")
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
        yield Settings(
            database_url=f"sqlite+aiosqlite:///{path}",
            log_format="text",
            metrics_token=METRICS_TOKEN,
        )
        return
    if pg_database is None:
        unavailable("PostgreSQL at 127.0.0.1:5432", "connection failed")
    client = _redis_or_none()
    if client is None:
        unavailable("Redis at 127.0.0.1:6379", "ping failed")
    assert pg_database is not None
    assert client is not None
    empty_postgres(pg_database)
    prefix = f"overt-test-{uuid.uuid4().hex[:12]}"
    yield Settings(
        database_url=pg_database,
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        secret_key="s" * 40,
        log_format="text",
        metrics_token=METRICS_TOKEN,
    )
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
