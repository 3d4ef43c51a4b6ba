"""A consented identity may carry the display name the site asserted with it, sealed like the
identity itself (AES-GCM with the server secret, bound to the site and subject), so a named
contact can be shown by name while `identification` consent lasts.

Revision ID: 0330
Revises: 0306
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0330"
down_revision = "0306"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consent_identities") as batch:
        batch.add_column(sa.Column("display_name_sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consent_identities") as batch:
        batch.drop_column("display_name_sealed")
