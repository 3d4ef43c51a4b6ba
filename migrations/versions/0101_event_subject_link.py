"""Events link to a consenting subject (tier 2) only through `subject_id`.

Revision ID: 0101
Revises: 0100
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0101"
down_revision = "0100"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("subject_id", sa.String(32), nullable=True))
    op.create_index("ix_events_site_id_subject_id", "events", ["site_id", "subject_id"])


def downgrade() -> None:
    op.drop_index("ix_events_site_id_subject_id", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("subject_id")
