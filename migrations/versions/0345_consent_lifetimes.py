"""Per-site, per-purpose consent lifetimes: how long a `given` lasts before it is asked again.
NULL is the default (365 days); a site may set 1 to 395 days (13 months, the longest a
consent cookie may live under the CNIL's guidance), never longer.

Revision ID: 0345
Revises: 0350
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0345"
down_revision = "0350"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consent_purposes") as batch:
        batch.add_column(sa.Column("lifetime_days", sa.Integer(), nullable=True))
        batch.create_check_constraint(
            "ck_consent_purposes_lifetime_days", "lifetime_days BETWEEN 1 AND 395"
        )


def downgrade() -> None:
    with op.batch_alter_table("consent_purposes") as batch:
        batch.drop_constraint("ck_consent_purposes_lifetime_days", type_="check")
        batch.drop_column("lifetime_days")
