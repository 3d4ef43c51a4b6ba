"""Foundation: sites, API keys, events, visitor salts.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sites"),
        sa.UniqueConstraint("domain", name="uq_sites_domain"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_api_keys_site_id_sites", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("visitor_hash", sa.BigInteger(), nullable=False),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("path", sa.String(2048), nullable=False),
        sa.Column("referrer", sa.String(2048), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_events"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_events_site_id_sites", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_events_site_id_received_at", "events", ["site_id", "received_at"])
    op.create_table(
        "visitor_salts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("salt", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_visitor_salts"),
    )


def downgrade() -> None:
    op.drop_table("visitor_salts")
    op.drop_index("ix_events_site_id_received_at", table_name="events")
    op.drop_table("events")
    op.drop_table("api_keys")
    op.drop_table("sites")
