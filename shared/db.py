"""Engine construction and the tables several services read (the data contract between them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    TypeDecorator,
    Uuid,
    event,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

from shared.dialect import register_postgres_codecs, register_sqlite_functions
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

# A registered website. The collector reads it (origin check), the API scopes keys to it.
sites = Table(
    "sites",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("domain", String(253), nullable=False, unique=True),
    Column("timezone", String(64), nullable=False, server_default="UTC"),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("settings", JSON, nullable=True),  # per-site knobs, see shared.sites.SiteSettings
)

# One accepted event. Written only by the ingest worker, read by the API.
# On PostgreSQL it is partitioned by month of occurred_at (see shared.partitions) and has
# no primary key: `event_ids` keeps event_id unique, and a btree on random ids would be
# paid by every insert for no reader (migrations 0102 and 0300).
events = Table(
    "events",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    # No foreign key: the collector queues events only for sites it found, and a per-row
    # RI check halves COPY's rate (migration 0102). Whoever deletes a site deletes its events.
    Column("site_id", String(32), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("name", String(120), nullable=False),
    Column("visitor_hash", BigInteger, nullable=False),
    Column("host", String(253), nullable=False),
    Column("path", String(2048), nullable=False),
    Column("referrer", String(2048), nullable=True),
    Column("session_id", Uuid, nullable=True),
    Column("pageview_id", Uuid, nullable=True),
    Column("engaged_ms", Integer, nullable=True),
    Column("scroll_depth", SmallInteger, nullable=True),
    Column("source", String(120), nullable=True),
    Column("medium", String(40), nullable=True),
    Column("utm_source", String(256), nullable=True),
    Column("utm_medium", String(256), nullable=True),
    Column("utm_campaign", String(256), nullable=True),
    Column("utm_term", String(256), nullable=True),
    Column("utm_content", String(256), nullable=True),
    Column("browser", String(64), nullable=True),
    Column("os", String(64), nullable=True),
    Column("device", String(16), nullable=True),
    Column("country", String(2), nullable=True),
    Column("gpc", Boolean, nullable=False, server_default=false()),
    Column("props", JSON, nullable=True),
    Column("analytics_id", String(32), nullable=True),
    # Tier 2 only: set by the collector for a valid, unrevoked identification token;
    # cleared by erasure. Never set without that consent (promise 2).
    Column("subject_id", String(32), nullable=True),
    # The session's attribution and entry page, copied by the ingest worker onto each event of
    # the session (fixed when it opens), so filters and dimensions on them need no join to
    # `sessions` (migration 0301). NULL when the event has no session.
    Column("session_entry_path", String(2048), nullable=True),
    Column("session_referrer", String(2048), nullable=True),
    Column("session_source", String(120), nullable=True),
    Column("session_medium", String(40), nullable=True),
    Column("session_utm_source", String(256), nullable=True),
    Column("session_utm_medium", String(256), nullable=True),
    Column("session_utm_campaign", String(256), nullable=True),
    # Postgres replaces this btree with BRIN (occurred_at); see migration 0102.
    Index("ix_events_site_id_occurred_at", "site_id", "occurred_at"),
    Index(
        "ix_events_site_id_subject_id",
        "site_id",
        "subject_id",
        postgresql_where=text("subject_id IS NOT NULL"),
        sqlite_where=text("subject_id IS NOT NULL"),
    ),
)

# The register of stored event ids: the one unique index over event_id alone, which a
# partitioned `events` cannot have. The worker claims ids here in the transaction that
# writes their events (which a taken id rolls back), so a replay is stored once even when it
# carries another occurred_at (another partition).
# It also maps a pageview to its session, for engagement events arriving in later batches,
# so nothing needs to find an event by id in `events` (which has no index on it on Postgres).
event_ids = Table(
    "event_ids",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("session_id", Uuid, nullable=True),
    Index("ix_event_ids_occurred_at", "occurred_at", postgresql_using="brin"),
)

# Event names the snippet sends itself; every other name is a goal (a custom event).
BUILTIN_EVENTS = frozenset({"pageview", "engagement", "outbound", "download", "404"})

# A visit: events of one visitor hash with no gap over 30 minutes. Kept by the ingest worker.
sessions = Table(
    "sessions",
    metadata,
    Column("session_id", Uuid, primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("visitor_hash", BigInteger, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("pageviews", Integer, nullable=False, server_default="0"),
    Column("events", Integer, nullable=False, server_default="0"),
    Column("goals", Integer, nullable=False, server_default="0"),
    Column("engaged_ms", BigInteger, nullable=False, server_default="0"),
    Column("max_scroll_depth", SmallInteger, nullable=False, server_default="0"),
    Column("is_engaged", Boolean, nullable=False, server_default=false()),
    Column("entry_path", String(2048), nullable=False),
    Column("exit_path", String(2048), nullable=False),
    Column("referrer", String(2048), nullable=True),
    Column("source", String(120), nullable=True),
    Column("medium", String(40), nullable=True),
    Column("utm_source", String(256), nullable=True),
    Column("utm_medium", String(256), nullable=True),
    Column("utm_campaign", String(256), nullable=True),
    Column("browser", String(64), nullable=True),
    Column("os", String(64), nullable=True),
    Column("device", String(16), nullable=True),
    Column("country", String(2), nullable=True),
    Column("analytics_id", String(32), nullable=True),
    # Not on last_seen_at, which every update moves: updates stay in place (migration 0302).
    Index("ix_sessions_site_id_visitor_hash", "site_id", "visitor_hash"),
    Index("ix_sessions_site_id_started_at", "site_id", "started_at"),
    Index("ix_sessions_site_id_analytics_id_started_at", "site_id", "analytics_id", "started_at"),
)

# Additive hourly counters kept current by the ingest worker (fast day/hour/page queries).
page_hourly = Table(
    "page_hourly",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("hour", UtcDateTime(), primary_key=True),
    Column("path", String(2048), primary_key=True),
    Column("pageviews", BigInteger, nullable=False, server_default="0"),
    Column("engaged_ms", BigInteger, nullable=False, server_default="0"),
    Column("entries", BigInteger, nullable=False, server_default="0"),
    # Visitors first seen on this path that UTC day, in this hour (see visitor_days below).
    Column("visitors", BigInteger, nullable=False, server_default="0"),
)

site_hourly = Table(
    "site_hourly",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("hour", UtcDateTime(), primary_key=True),
    Column("pageviews", BigInteger, nullable=False, server_default="0"),
    Column("events", BigInteger, nullable=False, server_default="0"),
    Column("sessions", BigInteger, nullable=False, server_default="0"),
    Column("engaged_sessions", BigInteger, nullable=False, server_default="0"),
    Column("engaged_ms", BigInteger, nullable=False, server_default="0"),
    Column("gpc_events", BigInteger, nullable=False, server_default="0"),
    # Visitors first seen that UTC day, in this hour (see visitor_days below).
    Column("visitors", BigInteger, nullable=False, server_default="0"),
)

# Exact per-day visitor sets behind the `visitors` counters of the hourly rollups. A visitor
# hash lives one day (the salt rotates daily), so distinct visitors over whole UTC days are
# the sum of each day's first sightings: the counters are additive and exact. The worker
# keeps only the last two days of these sets (all a late event can still touch).
visitor_days = Table(
    "visitor_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("site_id", String(32), primary_key=True),
    Column("visitor_hash", BigInteger, primary_key=True),
)

page_visitor_days = Table(
    "page_visitor_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("site_id", String(32), primary_key=True),
    Column("path", String(2048), primary_key=True),
    Column("visitor_hash", BigInteger, primary_key=True),
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
            register_sqlite_functions(dbapi_connection)

        return engine
    engine = create_async_engine(
        settings.database_url, pool_size=10, max_overflow=10, pool_pre_ping=True
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _postgres_codecs(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(register_postgres_codecs)

    return engine


def new_event_id() -> uuid.UUID:
    return uuid.uuid4()
