"""Engagement capture: enriched events, sessions, hourly rollups.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EVENT_COLUMNS: list[sa.Column[Any]] = [
    sa.Column("session_id", sa.Uuid(), nullable=True),
    sa.Column("pageview_id", sa.Uuid(), nullable=True),
    sa.Column("engaged_ms", sa.Integer(), nullable=True),
    sa.Column("scroll_depth", sa.SmallInteger(), nullable=True),
    sa.Column("source", sa.String(120), nullable=True),
    sa.Column("medium", sa.String(40), nullable=True),
    sa.Column("utm_source", sa.String(256), nullable=True),
    sa.Column("utm_medium", sa.String(256), nullable=True),
    sa.Column("utm_campaign", sa.String(256), nullable=True),
    sa.Column("utm_term", sa.String(256), nullable=True),
    sa.Column("utm_content", sa.String(256), nullable=True),
    sa.Column("browser", sa.String(64), nullable=True),
    sa.Column("os", sa.String(64), nullable=True),
    sa.Column("device", sa.String(16), nullable=True),
    sa.Column("country", sa.String(2), nullable=True),
    sa.Column("gpc", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("props", sa.JSON(), nullable=True),
    sa.Column("analytics_id", sa.String(32), nullable=True),
]


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.alter_column("received_at", new_column_name="occurred_at")
        for column in EVENT_COLUMNS:
            batch.add_column(column._copy())
    op.drop_index("ix_events_site_id_received_at", table_name="events")
    op.create_index("ix_events_site_id_occurred_at", "events", ["site_id", "occurred_at"])
    # No index on session_id or pageview_id yet: nothing reads by them, and every index is
    # written per event on the hottest table (the worker looks pageviews up by primary key).

    op.create_table(
        "sessions",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("visitor_hash", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pageviews", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("events", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("goals", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("engaged_ms", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("max_scroll_depth", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column("is_engaged", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("entry_path", sa.String(2048), nullable=False),
        sa.Column("exit_path", sa.String(2048), nullable=False),
        sa.Column("referrer", sa.String(2048), nullable=True),
        sa.Column("source", sa.String(120), nullable=True),
        sa.Column("medium", sa.String(40), nullable=True),
        sa.Column("utm_source", sa.String(256), nullable=True),
        sa.Column("utm_medium", sa.String(256), nullable=True),
        sa.Column("utm_campaign", sa.String(256), nullable=True),
        sa.Column("browser", sa.String(64), nullable=True),
        sa.Column("os", sa.String(64), nullable=True),
        sa.Column("device", sa.String(16), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("analytics_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("session_id", name="pk_sessions"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_sessions_site_id_sites", ondelete="CASCADE"
        ),
    )
    op.create_index(
        "ix_sessions_site_id_visitor_hash_last_seen_at",
        "sessions",
        ["site_id", "visitor_hash", "last_seen_at"],
    )
    op.create_index("ix_sessions_site_id_started_at", "sessions", ["site_id", "started_at"])

    op.create_table(
        "page_hourly",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("path", sa.String(2048), nullable=False),
        sa.Column("pageviews", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("engaged_ms", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("entries", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("site_id", "hour", "path", name="pk_page_hourly"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_page_hourly_site_id_sites", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "site_hourly",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pageviews", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("events", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("sessions", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("engaged_sessions", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("engaged_ms", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("gpc_events", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("site_id", "hour", name="pk_site_hourly"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_site_hourly_site_id_sites", ondelete="CASCADE"
        ),
    )
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("settings", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("settings")
    op.drop_table("site_hourly")
    op.drop_table("page_hourly")
    op.drop_index("ix_sessions_site_id_started_at", table_name="sessions")
    op.drop_index("ix_sessions_site_id_visitor_hash_last_seen_at", table_name="sessions")
    op.drop_table("sessions")
    op.drop_index("ix_events_site_id_occurred_at", table_name="events")
    op.create_index("ix_events_site_id_received_at", "events", ["site_id", "occurred_at"])
    with op.batch_alter_table("events") as batch:
        for column in EVENT_COLUMNS:
            batch.drop_column(column.name)
        batch.alter_column("occurred_at", new_column_name="received_at")
