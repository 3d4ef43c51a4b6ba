"""Sessions are updated in place: no index on last_seen_at, and room on every page.

The ingest worker rewrites a session's row each time it sees one of its events, and the
row's `last_seen_at` moves every time. With that column in an index, PostgreSQL could never
update the row in place (a HOT update): each update wrote a new entry into all four of the
table's indexes. The worker's lookup (site, visitor hash, last seen since) is as well
served by (site_id, visitor_hash): a visitor hash lives one day, so it has a handful of
sessions at most. A fill factor of 80 leaves each page the room a HOT update needs.

Revision ID: 0302
Revises: 0301
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0302"
down_revision = "0301"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sessions_site_id_visitor_hash", "sessions", ["site_id", "visitor_hash"])
    op.drop_index("ix_sessions_site_id_visitor_hash_last_seen_at", table_name="sessions")
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE sessions SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE sessions RESET (fillfactor)")
    op.create_index(
        "ix_sessions_site_id_visitor_hash_last_seen_at",
        "sessions",
        ["site_id", "visitor_hash", "last_seen_at"],
    )
    op.drop_index("ix_sessions_site_id_visitor_hash", table_name="sessions")
