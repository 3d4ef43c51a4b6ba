"""Daily rollups per dimension value (`daily_stats`) and the days to recompute (`daily_dirty`).

The dashboard's first screen (tiles with comparison, the 30-day chart, top-10 panels, with
or without one filter) read raw events: seconds at 10M events. See shared/models.py
(DailyStats) for why days are recomputed rather than counted up per batch.

Backfill: every UTC day with data is marked dirty, so queries stay exact at once (dirty
days are computed from the events) and `overt rollups` (or the API's background refresh)
fills the table.

Revision ID: 0430
Revises: 0400
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0430"
down_revision = "0400"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_stats",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("filter_dim", sa.String(32), nullable=False),
        sa.Column("filter_value", sa.String(512), nullable=False),
        sa.Column("dimension", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.String(2048), nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False)
            for name in (
                "visitors",
                "counted_visitors",
                "visits",
                "pageviews",
                "actions",
                "engaged_ms",
                "bounces",
                "duration_ms",
                "durations",
            )
        ),
        sa.PrimaryKeyConstraint(
            "site_id",
            "filter_dim",
            "filter_value",
            "dimension",
            "day",
            "value",
            name="pk_daily_stats",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_daily_stats_site_id_sites", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "daily_dirty",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "day", name="pk_daily_dirty"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_daily_dirty_site_id_sites", ondelete="CASCADE"
        ),
    )
    # Every day with data is to be computed: from the hourly rollups, one row per UTC day.
    conn = op.get_bind()
    hours = conn.execute(sa.text("SELECT DISTINCT site_id, hour FROM site_hourly")).all()
    days = {(site_id, _day(hour)) for site_id, hour in hours}
    if days:
        dirty = sa.table(
            "daily_dirty",
            sa.column("site_id", sa.String()),
            sa.column("day", sa.Date()),
            sa.column("generation", sa.BigInteger()),
        )
        conn.execute(
            dirty.insert(),
            [{"site_id": s, "day": d, "generation": 1} for s, d in sorted(days)],
        )


def _day(hour: object) -> object:
    """The UTC day of a stored hour (a datetime on PostgreSQL, ISO text on SQLite)."""
    from datetime import UTC, datetime

    if isinstance(hour, str):
        hour = datetime.fromisoformat(hour)
    assert isinstance(hour, datetime)
    if hour.tzinfo is not None:
        hour = hour.astimezone(UTC)
    return hour.date()


def downgrade() -> None:
    op.drop_table("daily_dirty")
    op.drop_table("daily_stats")
