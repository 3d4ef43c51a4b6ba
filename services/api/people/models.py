"""Tables the API owns."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from shared.db import UtcDateTime, metadata

# A key is shown once; only its SHA-256 is kept (256-bit random keys need no slow hash).
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(512), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Column("rate_limit", Integer, nullable=True),  # requests per window; None: the setting
)

# What happened after the click, reported by the site: about a consented subject or a campaign.
# `outcome_id` is the client's own id; posting it again is a no-op (idempotency).
outcomes = Table(
    "outcomes",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("outcome_id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("subject_id", String(32), nullable=True),
    Column("utm_campaign", String(256), nullable=True),
    Column("utm_source", String(256), nullable=True),
    Column("amount_micros", BigInteger, nullable=True),  # revenue x 10^6, exact
    Column("currency", String(3), nullable=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of the posted body
    Index("ix_outcomes_site_id_subject_id", "site_id", "subject_id"),
)

# A site's webhook endpoint. Its signing secret is never stored: it is derived from the
# server secret and `secret_nonce` (a stolen database does not reveal it).
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("event_types", String(512), nullable=False),  # space-separated
    Column("secret_nonce", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("deleted_at", UtcDateTime(), nullable=True),
    Index("ix_webhook_subscriptions_site_id", "site_id"),
)

# The outbox: one row per (subscription, event), written in the transaction that decides to
# send it, delivered by a background task (leased, so replicas never send one twice at once).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "subscription_id",
        String(32),
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("site_id", String(32), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("subject_id", String(32), nullable=True),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed | cancelled
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("lease_until", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_subscription_id", "subscription_id"),
)

# Every attempt of a delivery: the delivery log.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column(
        "delivery_id",
        String(32),
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("attempt", Integer, primary_key=True),
    Column("attempted_at", UtcDateTime(), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(200), nullable=True),
)

# Which subscription has received data about which subject (erasure notifies each of them).
webhook_recipients = Table(
    "webhook_recipients",
    metadata,
    Column(
        "subscription_id",
        String(32),
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("subject_id", String(32), primary_key=True),
    Column("site_id", String(32), nullable=False),
    Column("first_sent_at", UtcDateTime(), nullable=False),
    Index("ix_webhook_recipients_site_id_subject_id", "site_id", "subject_id"),
)

# A subject crossed the intent threshold of one definition version (notified once).
intent_crossings = Table(
    "intent_crossings",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("subject_id", String(32), primary_key=True),
    Column("definition_version", Integer, primary_key=True),
    Column("crossed_at", UtcDateTime(), nullable=False),
)

# How far the webhook sender has read each site's consent ledger (for erasure notices).
ledger_cursors = Table(
    "webhook_ledger_cursors",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)
