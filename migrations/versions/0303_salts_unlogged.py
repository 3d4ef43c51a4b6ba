"""A destroyed daily salt is gone: visitor_salts is UNLOGGED on PostgreSQL.

A deleted row stays readable in PostgreSQL as a dead tuple until the page is vacuumed, in
the write-ahead log until it is recycled, and in every base backup and WAL archive taken
meanwhile: the salt that should make two days unlinkable outlived its day by weeks. An
UNLOGGED table never reaches the WAL (so neither replicas nor WAL archives see it), and the
collector truncates it at each rotation (a new file holding only today's row; the old file
is unlinked at commit, which a DELETE followed by VACUUM FULL does not guarantee while any
transaction could still see the dead row). With Redis configured, salts live there with an
expiry and this table stays empty. The cost: after a PostgreSQL crash or a failover the day's
salt is new, so that day's visitors seen before it count again.

Revision ID: 0303
Revises: 0302
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0303"
down_revision = "0302"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE visitor_salts SET UNLOGGED")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE visitor_salts SET LOGGED")
