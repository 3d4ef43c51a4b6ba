"""Events partitioned by month on PostgreSQL; a register of stored event ids on both dialects.

PostgreSQL: `events` becomes a declaratively partitioned table (RANGE on occurred_at, one
partition a month, a default partition for stragglers), its existing rows moved in. A
partitioned table's unique keys must hold the partition key, so the primary key becomes
(event_id, occurred_at) and the new `event_ids` table keeps event_id unique on its own: a
client replay of an event may carry another occurred_at (the collector clamps client clocks
to its own), and must still be stored once. SQLite: only the register is added.

Revision ID: 0300
Revises: 0210
Create Date: 2026-11-24
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from shared.partitions import (
    DEFAULT_PARTITION,
    MONTHS_AHEAD,
    add_months,
    month_of,
    months_between,
    partition_ddl,
)

revision = "0300"
down_revision = "0210"
branch_labels = None
depends_on = None

INDEXES = {  # as left by 0102 on Postgres
    "ix_events_occurred_at": "USING brin (occurred_at)",
    "ix_events_site_id_subject_id": "(site_id, subject_id) WHERE subject_id IS NOT NULL",
}


def _register() -> None:
    op.create_table(
        "event_ids",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_event_ids"),
    )
    op.create_index(
        "ix_event_ids_occurred_at", "event_ids", ["occurred_at"], postgresql_using="brin"
    )
    op.execute(
        "INSERT INTO event_ids (event_id, occurred_at, session_id) "
        "SELECT event_id, occurred_at, session_id FROM events"
    )


def _rename_aside(table: str, suffix: str) -> None:
    """Rename `table` and its constraints and indexes (their names are schema-wide)."""
    op.execute(f'ALTER TABLE "{table}" RENAME TO "{table}{suffix}"')
    has_key = op.get_bind().execute(
        sa.text("SELECT 1 FROM pg_constraint WHERE conname = 'pk_events'")
    )
    if has_key.first() is not None:
        op.execute(
            f'ALTER TABLE "{table}{suffix}" RENAME CONSTRAINT pk_events TO pk_events{suffix}'
        )
    for index in INDEXES:
        op.execute(f'ALTER INDEX "{index}" RENAME TO "{index}{suffix}"')


def _keys_and_indexes(primary_key: str | None) -> None:
    if primary_key is not None:
        op.execute(f"ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY {primary_key}")
    for index, columns in INDEXES.items():
        op.execute(f'CREATE INDEX "{index}" ON events {columns}')


def upgrade() -> None:
    _register()
    if op.get_bind().dialect.name != "postgresql":
        return
    _rename_aside("events", "_unpartitioned")
    op.execute(
        "CREATE TABLE events (LIKE events_unpartitioned INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (occurred_at)"
    )
    _keys_and_indexes(None)
    op.execute(f'CREATE TABLE "{DEFAULT_PARTITION}" PARTITION OF events DEFAULT')
    now = datetime.now(UTC)
    oldest = op.get_bind().execute(sa.text("SELECT min(occurred_at) FROM events_unpartitioned"))
    first = oldest.scalar_one() or now
    for month in months_between(month_of(min(first, now)), add_months(now, MONTHS_AHEAD).date()):
        op.execute(partition_ddl(month))
    op.execute("INSERT INTO events SELECT * FROM events_unpartitioned")
    op.execute("DROP TABLE events_unpartitioned")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rename_aside("events", "_partitioned")
        op.execute("CREATE TABLE events (LIKE events_partitioned INCLUDING DEFAULTS)")
        _keys_and_indexes("(event_id)")
        op.execute(
            "INSERT INTO events SELECT DISTINCT ON (event_id) * FROM events_partitioned "
            "ORDER BY event_id, occurred_at"
        )
        op.execute("DROP TABLE events_partitioned CASCADE")
    op.drop_index("ix_event_ids_occurred_at", table_name="event_ids")
    op.drop_table("event_ids")
