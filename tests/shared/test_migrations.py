"""The Alembic history is the schema, on both dialects, up and down."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from services.schema import metadata
from shared.db import create_engine
from shared.migrate import alembic_config, include_object_for, upgrade_head
from shared.settings import Settings

pytestmark = pytest.mark.anyio


async def table_names(settings: Settings) -> set[str]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_head_has_every_table_the_code_uses(settings: Settings) -> None:

    names = await table_names(settings)
    assert {table.name for table in metadata.sorted_tables} <= names
    assert "alembic_version" in names


async def test_the_models_describe_the_migrated_schema(settings: Settings) -> None:
    """Alembic autogenerate, run between head and the models, finds nothing to do: the
    SQLModel classes and the migrations describe the same tables, columns and indexes."""

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_object": include_object_for(connection.dialect.name),
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        return list(compare_metadata(context, metadata))

    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(differences)
    finally:
        await engine.dispose()
    assert found == []


async def test_downgrade_to_base_and_back(sqlite_settings: Settings) -> None:
    config = alembic_config(sqlite_settings)
    await asyncio.to_thread(command.downgrade, config, "base")
    assert await table_names(sqlite_settings) == {"alembic_version"}
    await asyncio.to_thread(upgrade_head, sqlite_settings)
    assert "events" in await table_names(sqlite_settings)


async def test_session_rows_can_be_updated_in_place(settings: Settings) -> None:
    """The worker rewrites a session's row for each batch of its events, moving last_seen_at:
    no index may hold that column (PostgreSQL could not update the row in place, a HOT
    update), and on PostgreSQL every page keeps room for the new version (migration 0302)."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("sessions"))
            options = None
            if conn.dialect.name == "postgresql":
                options = await conn.scalar(
                    text("SELECT reloptions FROM pg_class WHERE relname = 'sessions'")
                )
    finally:
        await engine.dispose()
    columns = [index["column_names"] for index in indexes]
    assert ["site_id", "visitor_hash"] in columns
    assert not [names for names in columns if "last_seen_at" in names]
    if settings.database_url.startswith("postgresql"):
        assert options == ["fillfactor=80"]
