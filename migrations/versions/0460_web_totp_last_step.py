"""The last TOTP time step each user signed in with (web_users.totp_last_step), so a code
already used (in its 30-second step or an earlier one) is refused when given again.

Revision ID: 0460
Revises: 0450
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0460"
down_revision = "0450"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("web_users") as batch:
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_users") as batch:
        batch.drop_column("totp_last_step")
