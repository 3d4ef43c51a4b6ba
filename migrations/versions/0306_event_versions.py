"""Browser and OS versions on each event, for the query engine's browser_version and
os_version dimensions (Plausible's). Read from the User-Agent at intake, as the families
are; the User-Agent itself is still never stored. Older events have none ("(none)").

Revision ID: 0306
Revises: 0305
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0306"
down_revision = "0305"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable and without a default: a catalogue-only change, even on a partitioned table.
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("browser_version", sa.String(32), nullable=True))
        batch.add_column(sa.Column("os_version", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("os_version")
        batch.drop_column("browser_version")
