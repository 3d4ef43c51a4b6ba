"""Events carry their session's attribution and entry page, for the raw query path.

A filter or dimension on a session's source, medium, UTM fields, referrer or entry page used
to join every event in the date range to its session (at 1M events: ~150k index lookups, or
a hash of the whole sessions table, per query and again for the k-anonymity check). These
are fixed when a session opens (the ingest worker never changes them afterwards), so the
worker now copies them onto each event it assigns to the session, and the query reads them
from the event row. The exit page still changes as a session goes on: it stays joined.

Existing events are filled from their sessions here (one UPDATE: on a large PostgreSQL
deployment it rewrites every event row once, so run it in a quiet hour).

Revision ID: 0301
Revises: 0300
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0301"
down_revision = "0300"
branch_labels = None
depends_on = None

# events column -> sessions column
CARRIED = {
    "session_entry_path": ("entry_path", sa.String(2048)),
    "session_referrer": ("referrer", sa.String(2048)),
    "session_source": ("source", sa.String(120)),
    "session_medium": ("medium", sa.String(40)),
    "session_utm_source": ("utm_source", sa.String(256)),
    "session_utm_medium": ("utm_medium", sa.String(256)),
    "session_utm_campaign": ("utm_campaign", sa.String(256)),
}


def upgrade() -> None:
    # Plain ADD COLUMN on both dialects (nullable, no default: catalogue-only on PostgreSQL,
    # where it reaches every partition of `events`).
    for name, (_, type_) in CARRIED.items():
        op.add_column("events", sa.Column(name, type_, nullable=True))
    # UPDATE ... FROM: PostgreSQL, and SQLite >= 3.33.
    sets = ", ".join(f'"{name}" = s."{column}"' for name, (column, _) in CARRIED.items())
    op.execute(
        f"UPDATE events SET {sets} FROM sessions AS s WHERE s.session_id = events.session_id"
    )


def downgrade() -> None:
    for name in reversed(CARRIED):
        op.drop_column("events", name)
