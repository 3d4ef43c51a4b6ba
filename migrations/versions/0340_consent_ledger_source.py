"""The consent ledger names the consent manager that showed the text: `consent_ledger.source`.

A site that keeps its own CMP (Cookiebot, OneTrust, Klaro, cookieconsent) feeds decisions
made in it through a bridge script; such a row records the CMP's name here and, in
`notice_hash`, the SHA-256 of the text that CMP's dialog showed (not Overt's notice). Null
for every decision made in Overt's own widget, preference page or API, as for every row
written before. A plain ADD COLUMN on both backends: no table is rebuilt, so the
append-only triggers stay as they are (a row's hash covers `source` only when it is set,
so every existing row still verifies).

Revision ID: 0340
Revises: 0311
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0340"
down_revision = "0311"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("consent_ledger", sa.Column("source", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("consent_ledger", "source")
