"""Dead letters of the ingest worker: queue entries that failed alone while the database worked.

Used when the queue is the in-process one (the embedded mode); with Redis the dead letters
live in a Redis stream beside the event stream. Created on both dialects all the same: the
migrations are the schema.

Revision ID: 0304
Revises: 0303
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0304"
down_revision = "0303"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_dead_letters",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("delivery_id", sa.String(64), nullable=False),
        sa.Column("error_type", sa.String(128), nullable=False),
        sa.Column("error", sa.String(512), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_dead_letters"),
    )


def downgrade() -> None:
    op.drop_table("ingest_dead_letters")
