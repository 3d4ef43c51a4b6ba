"""Migration 0100 on PostgreSQL: the append-only triggers come and go with it."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import asyncpg
import pytest
from alembic import command

from shared.migrate import alembic_config, upgrade_head
from shared.settings import Settings
from tests.helpers.backends import PG_ADMIN_URL, unavailable


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _triggers(url: str) -> set[str]:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        rows = await conn.fetch("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
    finally:
        await conn.close()
    return {row["tgname"] for row in rows}


def test_postgres_upgrade_downgrade_keeps_the_append_only_guard() -> None:
    name = f"overt_mig_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable("PostgreSQL at 127.0.0.1:5432", type(exc).__name__)
    base = PG_ADMIN_URL.rpartition("/")[0]
    plain = f"{base}/{name}"
    settings = Settings(
        database_url=plain.replace("postgresql://", "postgresql+asyncpg://"), secret_key="k" * 32
    )
    try:
        upgrade_head(settings)
        guarded = {"consent_ledger_append_only", "consent_checkpoints_append_only"}
        assert guarded <= asyncio.run(_triggers(plain))
        command.downgrade(alembic_config(settings), "0001")
        assert not guarded & asyncio.run(_triggers(plain))
        upgrade_head(settings)
        assert guarded <= asyncio.run(_triggers(plain))
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.parametrize("table", ["consent_ledger", "consent_checkpoints"])
def test_sqlite_has_the_guard_too(sqlite_template: Path, table: str) -> None:
    conn = sqlite3.connect(str(sqlite_template))
    try:
        names = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
            )
        }
    finally:
        conn.close()
    assert names == {f"{table}_no_update", f"{table}_no_delete"}
