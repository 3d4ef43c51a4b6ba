"""Goals as first-class objects: a site's page, custom-event and revenue goals.

Until now any custom event was a goal. A site with rows here counts only these (Plausible's
rule); a site without any keeps the old rule (services.api.goals.service).

Revision ID: 0310
Revises: 0315
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0310"
down_revision = "0315"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "goals",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("page", sa.String(256), nullable=True),
        sa.Column("event", sa.String(120), nullable=True),
        sa.Column("props", sa.JSON(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_goals"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_goals_site_id_sites", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("site_id", "name", name="uq_goals_site_id_name"),
    )


def downgrade() -> None:
    op.drop_table("goals")
