"""Hand-over tokens already opened (consent_handover_uses), so a hand-over link to the
preference page opens the visitor's choices once: a copied or leaked link is refused.

Revision ID: 0500
Revises: 0460
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0500"
down_revision = "0460"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_handover_uses",
        sa.Column("token_id", sa.String(32), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consent_handover_uses")
