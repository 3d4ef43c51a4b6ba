"""An index on events by (site, name, time), carrying the session: behavioural filters and
goals find the few events of a name without reading the whole range.

`has_done {event is Signup}` over 7 days read every event of the range twice (a parallel
seq scan for the sessions that signed up, one for their events): at 1M events, a 1.4 s
p95. With this index the inner scan reads only the matching entries (an index-only scan,
`session_id` included on PostgreSQL), and the outer one is hashed against ~3k sessions.

On PostgreSQL `events` is partitioned: an index created on the parent is created on each
partition, and on every partition made later.

Revision ID: 0450
Revises: 0440
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0450"
down_revision = "0440"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_events_site_id_name_occurred_at",
        "events",
        ["site_id", "name", "occurred_at"],
        postgresql_include=["session_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_events_site_id_name_occurred_at", table_name="events")
