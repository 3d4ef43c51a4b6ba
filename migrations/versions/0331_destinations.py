"""Slack and HubSpot beside webhooks, in the same outbox: a subscription has a kind, a Slack
alert a cool-down per contact, a CRM its sealed access token; a recipient row keeps the id
the CRM gave the contact (to delete it there once the identity is gone here); goal alerts are
noted once per event.

Revision ID: 0331
Revises: 0330
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0331"
down_revision = "0330"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="webhook"))
        batch.add_column(sa.Column("cooldown_s", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("token_sealed", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("webhook_recipients") as batch:
        batch.add_column(sa.Column("remote_id", sa.String(64), nullable=True))
    op.create_table(
        "destination_alerts",
        sa.Column("subscription_id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name="fk_destination_alerts_subscription_id_webhook_subscriptions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", "subject_id", name="pk_destination_alerts"),
    )
    op.create_table(
        "goal_notices",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("noticed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_goal_notices_site_id_sites", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "event_id", name="pk_goal_notices"),
    )


def downgrade() -> None:
    op.drop_table("goal_notices")
    op.drop_table("destination_alerts")
    with op.batch_alter_table("webhook_recipients") as batch:
        batch.drop_column("remote_id")
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.drop_column("token_sealed")
        batch.drop_column("cooldown_s")
        batch.drop_column("kind")
