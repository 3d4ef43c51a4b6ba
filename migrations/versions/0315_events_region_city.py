"""Events carry the visitor's region and city, looked up from the IP at intake.

The collector finds country, region and city in an offline IP database
(services/collector/geo.py) and drops the IP right after, as before. Region is an ISO
3166-2 code where the data gives one (else the data's name), city the data's name: both
quasi-identifiers for the query API's k-anonymity, as country is.

Revision ID: 0315
Revises: 0320
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0315"
down_revision = "0320"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both dialects (nullable, no default: catalogue-only on PostgreSQL,
    # where it reaches every partition of `events`).
    op.add_column("events", sa.Column("region", sa.String(64), nullable=True))
    op.add_column("events", sa.Column("city", sa.String(128), nullable=True))


def downgrade() -> None:
    op.drop_column("events", "city")
    op.drop_column("events", "region")
