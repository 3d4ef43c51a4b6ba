"""Engine construction and the tables several services read (the data contract between them)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    event,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.settings import Settings, sqlite_path

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A registered website. The collector reads it (origin check), the API scopes keys to it.
sites = Table(
    "sites",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("domain", String(253), nullable=False, unique=True),
    Column("timezone", String(64), nullable=False, server_default="UTC"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# One accepted event. Written only by the ingest worker, read by the API.
events = Table(
    "events",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("name", String(120), nullable=False),
    Column("visitor_hash", BigInteger, nullable=False),
    Column("host", String(253), nullable=False),
    Column("path", String(2048), nullable=False),
    Column("referrer", String(2048), nullable=True),
    Index("ix_events_site_id_received_at", "site_id", "received_at"),
)

# Today's random salt for visitor hashes; older salts are deleted, so days cannot be linked.
visitor_salts = Table(
    "visitor_salts",
    metadata,
    Column("day", Date, primary_key=True),
    Column("salt", LargeBinary(32), nullable=False),
)


def create_engine(settings: Settings) -> AsyncEngine:
    """An async engine for the configured database, with SQLite tuned for safe group commits."""
    if settings.is_sqlite:
        sqlite_path(settings.database_url).parent.mkdir(parents=True, exist_ok=True)
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

        return engine
    return create_async_engine(
        settings.database_url, pool_size=10, max_overflow=10, pool_pre_ping=True
    )


def new_event_id() -> uuid.UUID:
    return uuid.uuid4()
