"""The dashboard's shared links (token and optional password stored hashed) and its manual
chart annotations (services.api.web.dashboard.models).

Revision ID: 0410
Revises: 0420
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0410"
down_revision = "0420"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def _site() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "site_id", sa.String(32), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "dashboard_shares",
        sa.Column("id", sa.String(32), primary_key=True),
        _site(),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(120), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("revoked_at", WHEN, nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_dashboard_shares_token_hash"),
    )
    op.create_index("ix_dashboard_shares_site_id", "dashboard_shares", ["site_id"])
    op.create_table(
        "dashboard_annotations",
        sa.Column("id", sa.Integer(), primary_key=True),
        _site(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("text", sa.String(200), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_index(
        "ix_dashboard_annotations_site_id_day", "dashboard_annotations", ["site_id", "day"]
    )


def downgrade() -> None:
    op.drop_table("dashboard_annotations")
    op.drop_table("dashboard_shares")
