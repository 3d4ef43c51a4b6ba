"""Engine construction, the one metadata, and the column type every table's timestamps use.

The tables several services read live in `shared.models`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import DateTime, Table, TypeDecorator, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

from shared.dialect import register_postgres_codecs, register_sqlite_functions
from shared.files import create_private
from shared.settings import Settings, sqlite_path


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are aware UTC datetimes on both dialects (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Overt stores aware UTC timestamps only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# The one metadata: SQLModel table classes register on it, Alembic compares against it.
metadata = SQLModel.metadata
metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a SQLModel class, for statements that bypass the ORM."""
    return cast("Table", model.__table__)  # type: ignore[attr-defined]


def create_engine(settings: Settings) -> AsyncEngine:
    """An async engine for the configured database, with SQLite tuned for safe group commits."""
    if settings.is_sqlite:
        # Created 0600 before SQLite opens it; SQLite gives its -wal and -shm the database
        # file's mode, so they are private too (no process-wide umask change needed).
        create_private(sqlite_path(settings.database_url))
        engine = create_async_engine(settings.database_url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL: readers never block the writer. FULL: a commit is on disk when it returns,
            # which is what lets the embedded collector acknowledge an event after its commit.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            register_sqlite_functions(dbapi_connection)

        return engine
    engine = create_async_engine(
        settings.database_url, pool_size=10, max_overflow=10, pool_pre_ping=True
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _postgres_codecs(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(register_postgres_codecs)

    return engine
