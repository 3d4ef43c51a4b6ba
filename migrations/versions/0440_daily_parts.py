"""Daily rollups in parts: the pieces of a UTC day in each local day of the site.

Sites whose local days are not UTC days (Europe/Berlin, America/New_York...) read the
events for every dashboard query: a local day covers parts of two UTC days. `part` keys
those pieces (services/api/stats/daily.py); the rows stored so far are whole days (part 0)
and stay right. The days of sites in other zones lack their parts: they are marked to be
rebuilt, and read from the events until then, as every marked day is.

Revision ID: 0440
Revises: 0410
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0440"
down_revision = "0410"
branch_labels = None
depends_on = None

KEY = ["site_id", "filter_dim", "filter_value", "dimension", "day", "value"]


def upgrade() -> None:
    with op.batch_alter_table("daily_stats", recreate="auto") as batch:
        batch.add_column(sa.Column("part", sa.SmallInteger(), nullable=False, server_default="0"))
        batch.drop_constraint("pk_daily_stats", type_="primary")
        batch.create_primary_key("pk_daily_stats", [*KEY[:-1], "part", KEY[-1]])
    op.execute(
        "INSERT INTO daily_dirty (site_id, day, generation)"
        " SELECT DISTINCT daily_stats.site_id, daily_stats.day, 1 FROM daily_stats"
        " JOIN sites ON sites.id = daily_stats.site_id WHERE sites.timezone <> 'UTC'"
        " AND NOT EXISTS (SELECT 1 FROM daily_dirty WHERE daily_dirty.site_id ="
        " daily_stats.site_id AND daily_dirty.day = daily_stats.day)"
    )


def downgrade() -> None:
    op.execute("DELETE FROM daily_stats WHERE part <> 0")
    with op.batch_alter_table("daily_stats", recreate="auto") as batch:
        batch.drop_constraint("pk_daily_stats", type_="primary")
        batch.create_primary_key("pk_daily_stats", KEY)
        batch.drop_column("part")
