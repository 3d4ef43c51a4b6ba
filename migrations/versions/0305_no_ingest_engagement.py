"""Engagement is decided when a query runs, not when events are stored: the ingest-time flag
`sessions.is_engaged` and the counter `site_hourly.engaged_sessions` go.

The worker set both from the site's engaged-session thresholds as they were at ingest
time, and nothing read them: every engagement figure comes from the engagement definition
a query cites (services.api.engagement), which applies a new definition to history. Two
homes for one rule, one of them dead and stale the day a definition changes.

Revision ID: 0305
Revises: 0304
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0305"
down_revision = "0304"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("is_engaged")
    with op.batch_alter_table("site_hourly") as batch:
        batch.drop_column("engaged_sessions")


def downgrade() -> None:
    with op.batch_alter_table("site_hourly") as batch:
        batch.add_column(
            sa.Column("engaged_sessions", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column("is_engaged", sa.Boolean(), nullable=False, server_default=sa.false())
        )
