"""Segments: a site's named, saved filter trees, usable in any query.

Revision ID: 0311
Revises: 0310
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0311"
down_revision = "0310"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_segments"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_segments_site_id_sites", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("site_id", "name", name="uq_segments_site_id_name"),
    )


def downgrade() -> None:
    op.drop_table("segments")
