"""People and outcomes: per-key rate limits, outcomes, webhooks and their outbox.

Revision ID: 0210
Revises: 0201
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0210"
down_revision = "0201"
branch_labels = None
depends_on = None


def _site_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["site_id"], ["sites.id"], name=f"fk_{table}_site_id_sites", ondelete="CASCADE"
    )


def _subscription_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["subscription_id"],
        ["webhook_subscriptions.id"],
        name=f"fk_{table}_subscription_id_webhook_subscriptions",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("rate_limit", sa.Integer(), nullable=True))

    op.create_table(
        "outcomes",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("outcome_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=True),
        sa.Column("utm_campaign", sa.String(256), nullable=True),
        sa.Column("utm_source", sa.String(256), nullable=True),
        sa.Column("amount_micros", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "outcome_id", name="pk_outcomes"),
        _site_fk("outcomes"),
    )
    op.create_index("ix_outcomes_site_id_subject_id", "outcomes", ["site_id", "subject_id"])

    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("event_types", sa.String(512), nullable=False),
        sa.Column("secret_nonce", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_subscriptions"),
        _site_fk("webhook_subscriptions"),
    )
    op.create_index("ix_webhook_subscriptions_site_id", "webhook_subscriptions", ["site_id"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("subscription_id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        _subscription_fk("webhook_deliveries"),
    )
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        "ix_webhook_deliveries_subscription_id", "webhook_deliveries", ["subscription_id"]
    )

    op.create_table(
        "webhook_attempts",
        sa.Column("delivery_id", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("delivery_id", "attempt", name="pk_webhook_attempts"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name="fk_webhook_attempts_delivery_id_webhook_deliveries",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "webhook_recipients",
        sa.Column("subscription_id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("first_sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", "subject_id", name="pk_webhook_recipients"),
        _subscription_fk("webhook_recipients"),
    )
    op.create_index(
        "ix_webhook_recipients_site_id_subject_id",
        "webhook_recipients",
        ["site_id", "subject_id"],
    )

    op.create_table(
        "intent_crossings",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("crossed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "site_id", "subject_id", "definition_version", name="pk_intent_crossings"
        ),
        _site_fk("intent_crossings"),
    )

    op.create_table(
        "webhook_ledger_cursors",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", name="pk_webhook_ledger_cursors"),
        _site_fk("webhook_ledger_cursors"),
    )


def downgrade() -> None:
    op.drop_table("webhook_ledger_cursors")
    op.drop_table("intent_crossings")
    op.drop_table("webhook_recipients")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
    op.drop_table("outcomes")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("rate_limit")
