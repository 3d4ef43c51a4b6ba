"""The tables several services read (the data contract between them), one SQLModel class each.

Hot paths (the worker's COPY and staged upserts, the query engine) build Core statements over
the `Table` aliases below (`events = Event.__table__`), so those statements stay unchanged.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Uuid,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, table_of


# A registered website. The collector reads it (origin check), the API scopes keys to it.
class Site(SQLModel, table=True):
    __tablename__ = "sites"

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    domain: str = Field(sa_column=Column(String(253), nullable=False, unique=True))
    timezone: str = Field(sa_column=Column(String(64), nullable=False, server_default="UTC"))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    # per-site knobs, see shared.sites.SiteSettings
    settings: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


sites = table_of(Site)


# An API key. Made and revoked by the API (`overt key create`); read by the API and, for
# ingest keys (scope events:write), by the collector: so its table is shared.
class ApiKey(SQLModel, table=True):
    """A key is shown once; only its SHA-256 is kept (256-bit random keys need no slow hash)."""

    __tablename__ = "api_keys"

    id: str = Field(sa_column=Column("id", String(32), primary_key=True))
    site_id: str = Field(
        sa_column=Column(
            "site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        )
    )
    key_hash: str = Field(sa_column=Column("key_hash", String(64), nullable=False, unique=True))
    scopes: str = Field(sa_column=Column("scopes", String(512), nullable=False))
    created_at: datetime = Field(sa_column=Column("created_at", UtcDateTime(), nullable=False))
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column("revoked_at", UtcDateTime(), nullable=True)
    )
    # requests per window; None: the setting
    rate_limit: int | None = Field(
        default=None, sa_column=Column("rate_limit", Integer, nullable=True)
    )


api_keys = table_of(ApiKey)


# One accepted event. Written only by the ingest worker, read by the API.
# On PostgreSQL it is partitioned by month of occurred_at (see shared.partitions) and has
# no primary key: `event_ids` keeps event_id unique, and a btree on random ids would be
# paid by every insert for no reader (migrations 0102 and 0300).
class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        # Postgres replaces this btree with BRIN (occurred_at); see migration 0102.
        Index("ix_events_site_id_occurred_at", "site_id", "occurred_at"),
        # Behavioural filters and goals: the events of a name (migration 0450).
        Index(
            "ix_events_site_id_name_occurred_at",
            "site_id",
            "name",
            "occurred_at",
            postgresql_include=["session_id"],
        ),
        Index(
            "ix_events_site_id_subject_id",
            "site_id",
            "subject_id",
            postgresql_where=text("subject_id IS NOT NULL"),
            sqlite_where=text("subject_id IS NOT NULL"),
        ),
    )

    event_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    # No foreign key: the collector queues events only for sites it found, and a per-row
    # RI check halves COPY's rate (migration 0102). Whoever deletes a site deletes its events.
    site_id: str = Field(sa_column=Column(String(32), nullable=False))
    occurred_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    name: str = Field(sa_column=Column(String(120), nullable=False))
    visitor_hash: int = Field(sa_column=Column(BigInteger, nullable=False))
    host: str = Field(sa_column=Column(String(253), nullable=False))
    path: str = Field(sa_column=Column(String(2048), nullable=False))
    referrer: str | None = Field(default=None, sa_column=Column(String(2048), nullable=True))
    session_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    pageview_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    engaged_ms: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    scroll_depth: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    source: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))
    medium: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))
    utm_source: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    utm_medium: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    utm_campaign: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    utm_term: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    utm_content: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    browser: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    os: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    # major.minor, from the User-Agent at intake (migration 0306)
    browser_version: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    os_version: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    device: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    country: str | None = Field(default=None, sa_column=Column(String(2), nullable=True))
    # Looked up from the IP at intake (services/collector/geo.py); the IP is not kept.
    region: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    city: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    gpc: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    props: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    analytics_id: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    # Tier 2 only: set by the collector for a valid, unrevoked identification token;
    # cleared by erasure. Never set without that consent (promise 2).
    subject_id: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    # The session's attribution and entry page, copied by the ingest worker onto each event of
    # the session (fixed when it opens), so filters and dimensions on them need no join to
    # `sessions` (migration 0301). NULL when the event has no session.
    session_entry_path: str | None = Field(
        default=None, sa_column=Column(String(2048), nullable=True)
    )
    session_referrer: str | None = Field(
        default=None, sa_column=Column(String(2048), nullable=True)
    )
    session_source: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))
    session_medium: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))
    session_utm_source: str | None = Field(
        default=None, sa_column=Column(String(256), nullable=True)
    )
    session_utm_medium: str | None = Field(
        default=None, sa_column=Column(String(256), nullable=True)
    )
    session_utm_campaign: str | None = Field(
        default=None, sa_column=Column(String(256), nullable=True)
    )


events = table_of(Event)


# The register of stored event ids: the one unique index over event_id alone, which a
# partitioned `events` cannot have. The worker claims ids here in the transaction that
# writes their events (which a taken id rolls back), so a replay is stored once even when it
# carries another occurred_at (another partition).
# It also maps a pageview to its session, for engagement events arriving in later batches,
# so nothing needs to find an event by id in `events` (which has no index on it on Postgres).
class StoredEventId(SQLModel, table=True):
    __tablename__ = "event_ids"
    __table_args__ = (Index("ix_event_ids_occurred_at", "occurred_at", postgresql_using="brin"),)

    event_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    occurred_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    session_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))


event_ids = table_of(StoredEventId)

# Event names the snippet sends itself; every other name is a goal (a custom event).
BUILTIN_EVENTS = frozenset({"pageview", "engagement", "outbound", "download", "404"})


# A visit: events of one visitor hash with no gap over 30 minutes. Kept by the ingest worker.
# (Named for the visit, not `Session`, which in this codebase means a database session.)
class VisitSession(SQLModel, table=True):
    __tablename__ = "sessions"
    __table_args__ = (
        # Not on last_seen_at, which every update moves: updates stay in place (migration 0302).
        Index("ix_sessions_site_id_visitor_hash", "site_id", "visitor_hash"),
        Index("ix_sessions_site_id_started_at", "site_id", "started_at"),
        Index(
            "ix_sessions_site_id_analytics_id_started_at", "site_id", "analytics_id", "started_at"
        ),
    )

    session_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    site_id: str = Field(
        sa_column=Column(String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False)
    )
    visitor_hash: int = Field(sa_column=Column(BigInteger, nullable=False))
    started_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    pageviews: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    events: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    goals: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    engaged_ms: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    max_scroll_depth: int = Field(
        default=0, sa_column=Column(SmallInteger, nullable=False, server_default="0")
    )
    entry_path: str = Field(sa_column=Column(String(2048), nullable=False))
    exit_path: str = Field(sa_column=Column(String(2048), nullable=False))
    referrer: str | None = Field(default=None, sa_column=Column(String(2048), nullable=True))
    source: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))
    medium: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))
    utm_source: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    utm_medium: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    utm_campaign: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    browser: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    os: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    device: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    country: str | None = Field(default=None, sa_column=Column(String(2), nullable=True))
    analytics_id: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))


sessions = table_of(VisitSession)


# Changes to stored sessions that the ingest worker committed with their events but has not
# yet written into `sessions` (it does when the queue runs dry or every few seconds, not once
# a batch): one row per queue slice and batch, `changes` a JSON array of the sessions' new
# totals. Folded into `sessions` by the slice's holder, and by a worker taking the slice
# over after a crash.
class SessionChange(SQLModel, table=True):
    __tablename__ = "session_changes"

    id: int = Field(
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        )
    )
    slice: int = Field(sa_column=Column(Integer, nullable=False))
    changes: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


session_changes = table_of(SessionChange)


# Additive hourly counters kept current by the ingest worker (fast day/hour/page queries).
class PageHourly(SQLModel, table=True):
    __tablename__ = "page_hourly"

    site_id: str = Field(
        sa_column=Column(String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    )
    hour: datetime = Field(sa_column=Column(UtcDateTime(), primary_key=True))
    path: str = Field(sa_column=Column(String(2048), primary_key=True))
    pageviews: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    engaged_ms: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    entries: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    # Visitors first seen on this path that UTC day, in this hour (see visitor_days below).
    visitors: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )


page_hourly = table_of(PageHourly)


class SiteHourly(SQLModel, table=True):
    __tablename__ = "site_hourly"

    site_id: str = Field(
        sa_column=Column(String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    )
    hour: datetime = Field(sa_column=Column(UtcDateTime(), primary_key=True))
    pageviews: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    events: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    sessions: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    engaged_ms: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    gpc_events: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    # Visitors first seen that UTC day, in this hour (see visitor_days below).
    visitors: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )


site_hourly = table_of(SiteHourly)


# Daily rollups per dimension value, for the dashboard's tiles, chart and panels with or
# without one filter (services/api/stats/daily.py builds and reads them).
#
# Why recomputed days and not counters added per batch: bounce rate and visit duration are
# facts of whole sessions, which later batches change (a second pageview un-bounces a
# session whose first was counted) and which the session log may fold in later still; and
# distinct visitors per (day, value) would need a first-sighting set per value. Instead the
# ingest worker marks the UTC days a batch touched dirty (`daily_dirty`, in the batch's
# transaction, a generation bumped each time), and a refresh recomputes a dirty day with
# the query engine's own raw statement and clears the mark only if its generation did not
# move meanwhile. A query reads clean days here and computes dirty days (today, mostly)
# from the events: exact by construction. Days add up exactly because a visitor hash lives
# one UTC day (the daily salt): a (session, visitor) group of the raw path never spans two.
#
# One row per (site, filter dimension and value, dimension, UTC day, part, value); filter ""
# means no filter, dimension "" the day's total. Sums of what the raw path's per-session
# groups hold, so every rate is computed from them as the raw path computes it.
class DailyStats(SQLModel, table=True):
    __tablename__ = "daily_stats"

    site_id: str = Field(
        sa_column=Column(String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    )
    filter_dim: str = Field(sa_column=Column(String(32), primary_key=True))
    filter_value: str = Field(sa_column=Column(String(512), primary_key=True))
    dimension: str = Field(sa_column=Column(String(32), primary_key=True))
    day: date = Field(sa_column=Column(Date, primary_key=True))
    # 0: the whole UTC day; else the part of it in one local day of the site (a day its
    # local midnight splits; daily.py says which, and why a range adds up from them).
    part: int = Field(
        default=0, sa_column=Column(SmallInteger, primary_key=True, server_default="0")
    )
    value: str = Field(sa_column=Column(String(2048), primary_key=True))
    visitors: int = Field(sa_column=Column(BigInteger, nullable=False))
    counted_visitors: int = Field(sa_column=Column(BigInteger, nullable=False))  # toward k
    visits: int = Field(sa_column=Column(BigInteger, nullable=False))
    pageviews: int = Field(sa_column=Column(BigInteger, nullable=False))
    actions: int = Field(sa_column=Column(BigInteger, nullable=False))  # `events` metric
    engaged_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    bounces: int = Field(sa_column=Column(BigInteger, nullable=False))
    duration_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    durations: int = Field(sa_column=Column(BigInteger, nullable=False))  # sessions with facts


daily_stats = table_of(DailyStats)


class DailyDirty(SQLModel, table=True):
    __tablename__ = "daily_dirty"

    site_id: str = Field(
        sa_column=Column(String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    )
    day: date = Field(sa_column=Column(Date, primary_key=True))
    generation: int = Field(sa_column=Column(BigInteger, nullable=False))


daily_dirty = table_of(DailyDirty)


# Exact per-day visitor sets behind the `visitors` counters of the hourly rollups. A visitor
# hash lives one day (the salt rotates daily), so distinct visitors over whole UTC days are
# the sum of each day's first sightings: the counters are additive and exact. The worker
# keeps only the last two days of these sets (all a late event can still touch).
class VisitorDay(SQLModel, table=True):
    __tablename__ = "visitor_days"

    day: date = Field(sa_column=Column(Date, primary_key=True))
    site_id: str = Field(sa_column=Column(String(32), primary_key=True))
    visitor_hash: int = Field(sa_column=Column(BigInteger, primary_key=True))


visitor_days = table_of(VisitorDay)


class PageVisitorDay(SQLModel, table=True):
    __tablename__ = "page_visitor_days"

    day: date = Field(sa_column=Column(Date, primary_key=True))
    site_id: str = Field(sa_column=Column(String(32), primary_key=True))
    path: str = Field(sa_column=Column(String(2048), primary_key=True))
    visitor_hash: int = Field(sa_column=Column(BigInteger, primary_key=True))


page_visitor_days = table_of(PageVisitorDay)


# Today's random salt for visitor hashes; older salts are deleted, so days cannot be linked.
class VisitorSalt(SQLModel, table=True):
    __tablename__ = "visitor_salts"

    day: date = Field(sa_column=Column(Date, primary_key=True))
    salt: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


visitor_salts = table_of(VisitorSalt)


# Queue entries the ingest worker could not store (a data fault: the entry failed alone while
# the database worked), kept for the operator (`overt deadletter`) when the queue is the
# in-process one; with Redis they go to a dead-letter stream instead (shared.deadletter).
class DeadLetter(SQLModel, table=True):
    __tablename__ = "ingest_dead_letters"

    id: str = Field(sa_column=Column(String(32), primary_key=True))  # hash of the payload
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # a JSON array
    delivery_id: str = Field(sa_column=Column(String(64), nullable=False))  # its queue entry
    error_type: str = Field(sa_column=Column(String(128), nullable=False))
    error: str = Field(sa_column=Column(String(512), nullable=False))
    failed_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


dead_letters = table_of(DeadLetter)
