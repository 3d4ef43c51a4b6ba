"""Alembic environment: async engine from Overt settings, one history for both dialects."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from services.schema import metadata
from shared.db import create_engine
from shared.migrate import include_object_for
from shared.settings import Settings, load_settings

config = context.config


def _settings() -> Settings:
    given = config.attributes.get("settings")
    return given if isinstance(given, Settings) else load_settings(Settings)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=include_object_for(connection.dialect.name),
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_settings())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `overt migrate`")
asyncio.run(_run_async())
