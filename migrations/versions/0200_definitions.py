"""Engagement definitions: per site, versioned, append-only.

Revision ID: 0200
Revises: 0102
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.dialect import append_only_ddl, drop_append_only_ddl

revision = "0200"
down_revision = "0102"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engagement_definitions",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "version", name="pk_engagement_definitions"),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name="fk_engagement_definitions_site_id_sites",
            ondelete="CASCADE",
        ),
    )
    for statement in append_only_ddl(op.get_bind().dialect.name, "engagement_definitions"):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_append_only_ddl(op.get_bind().dialect.name, "engagement_definitions"):
        op.execute(statement)
    op.drop_table("engagement_definitions")
