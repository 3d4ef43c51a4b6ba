"""The tables of people: outcomes, webhook subscriptions and their outbox, intent crossings."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
)
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, table_of


def _site_key() -> Column[str]:
    """A site_id that is part of the primary key and goes with its site."""
    return Column(
        "site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )


class Outcome(SQLModel, table=True):
    """What happened after the click, reported by the site: about a consented subject or a
    campaign. `outcome_id` is the client's own id; posting it again is a no-op (idempotency)."""

    __tablename__ = "outcomes"
    __table_args__ = (Index("ix_outcomes_site_id_subject_id", "site_id", "subject_id"),)

    site_id: str = Field(sa_column=_site_key())
    outcome_id: str = Field(sa_column=Column("outcome_id", String(64), primary_key=True))
    kind: str = Field(sa_column=Column("kind", String(32), nullable=False))
    subject_id: str | None = Field(
        default=None, sa_column=Column("subject_id", String(32), nullable=True)
    )
    utm_campaign: str | None = Field(
        default=None, sa_column=Column("utm_campaign", String(256), nullable=True)
    )
    utm_source: str | None = Field(
        default=None, sa_column=Column("utm_source", String(256), nullable=True)
    )
    # revenue x 10^6, exact
    amount_micros: int | None = Field(
        default=None, sa_column=Column("amount_micros", BigInteger, nullable=True)
    )
    currency: str | None = Field(
        default=None, sa_column=Column("currency", String(3), nullable=True)
    )
    occurred_at: datetime = Field(sa_column=Column("occurred_at", UtcDateTime(), nullable=False))
    recorded_at: datetime = Field(sa_column=Column("recorded_at", UtcDateTime(), nullable=False))
    # SHA-256 of the posted body
    fingerprint: str = Field(sa_column=Column("fingerprint", String(64), nullable=False))


class WebhookSubscription(SQLModel, table=True):
    """A site's destination: a webhook endpoint, a Slack incoming webhook or a HubSpot
    account. A webhook's signing secret is never stored: it is derived from the server secret
    and `secret_nonce` (a stolen database does not reveal it); a CRM's access token is
    sealed with the server secret."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (Index("ix_webhook_subscriptions_site_id", "site_id"),)

    id: str = Field(sa_column=Column("id", String(32), primary_key=True))
    site_id: str = Field(
        sa_column=Column(
            "site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        )
    )
    url: str = Field(sa_column=Column("url", String(2048), nullable=False))
    # space-separated
    event_types: str = Field(sa_column=Column("event_types", String(512), nullable=False))
    secret_nonce: str = Field(sa_column=Column("secret_nonce", String(64), nullable=False))
    # webhook | slack | hubspot
    kind: str = Field(
        default="webhook",
        sa_column=Column("kind", String(16), nullable=False, server_default="webhook"),
    )
    # Slack: at most one alert per contact in this many seconds
    cooldown_s: int | None = Field(
        default=None, sa_column=Column("cooldown_s", Integer, nullable=True)
    )
    # HubSpot: the private app's access token, sealed
    token_sealed: bytes | None = Field(
        default=None, sa_column=Column("token_sealed", LargeBinary, nullable=True)
    )
    created_at: datetime = Field(sa_column=Column("created_at", UtcDateTime(), nullable=False))
    deleted_at: datetime | None = Field(
        default=None, sa_column=Column("deleted_at", UtcDateTime(), nullable=True)
    )


class WebhookDelivery(SQLModel, table=True):
    """The outbox: one row per (subscription, event), written in the transaction that decides
    to send it, delivered by a background task (leased, so replicas never send one twice at
    once)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription_id", "subscription_id"),
    )

    id: str = Field(sa_column=Column("id", String(32), primary_key=True))
    subscription_id: str = Field(
        sa_column=Column(
            "subscription_id",
            String(32),
            ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
            nullable=False,
        )
    )
    site_id: str = Field(sa_column=Column("site_id", String(32), nullable=False))
    event_type: str = Field(sa_column=Column("event_type", String(64), nullable=False))
    subject_id: str | None = Field(
        default=None, sa_column=Column("subject_id", String(32), nullable=True)
    )
    payload: str = Field(sa_column=Column("payload", Text, nullable=False))
    # pending | delivered | failed | cancelled
    status: str = Field(sa_column=Column("status", String(16), nullable=False))
    attempts: int = Field(
        default=0, sa_column=Column("attempts", Integer, nullable=False, server_default="0")
    )
    next_attempt_at: datetime = Field(
        sa_column=Column("next_attempt_at", UtcDateTime(), nullable=False)
    )
    lease_until: datetime | None = Field(
        default=None, sa_column=Column("lease_until", UtcDateTime(), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column("created_at", UtcDateTime(), nullable=False))
    finished_at: datetime | None = Field(
        default=None, sa_column=Column("finished_at", UtcDateTime(), nullable=True)
    )


class WebhookAttempt(SQLModel, table=True):
    """Every attempt of a delivery: the delivery log."""

    __tablename__ = "webhook_attempts"

    delivery_id: str = Field(
        sa_column=Column(
            "delivery_id",
            String(32),
            ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    attempt: int = Field(sa_column=Column("attempt", Integer, primary_key=True))
    attempted_at: datetime = Field(sa_column=Column("attempted_at", UtcDateTime(), nullable=False))
    status_code: int | None = Field(
        default=None, sa_column=Column("status_code", Integer, nullable=True)
    )
    error: str | None = Field(default=None, sa_column=Column("error", String(200), nullable=True))


class WebhookRecipient(SQLModel, table=True):
    """Which subscription has received data about which subject (erasure notifies each of
    them)."""

    __tablename__ = "webhook_recipients"
    __table_args__ = (Index("ix_webhook_recipients_site_id_subject_id", "site_id", "subject_id"),)

    subscription_id: str = Field(
        sa_column=Column(
            "subscription_id",
            String(32),
            ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    subject_id: str = Field(sa_column=Column("subject_id", String(32), primary_key=True))
    site_id: str = Field(sa_column=Column("site_id", String(32), nullable=False))
    first_sent_at: datetime = Field(
        sa_column=Column("first_sent_at", UtcDateTime(), nullable=False)
    )
    # the id the destination gave the contact (HubSpot's object id), to delete it there
    remote_id: str | None = Field(
        default=None, sa_column=Column("remote_id", String(64), nullable=True)
    )


class DestinationAlert(SQLModel, table=True):
    """When a destination last alerted about a contact (one alert per cool-down)."""

    __tablename__ = "destination_alerts"

    subscription_id: str = Field(
        sa_column=Column(
            "subscription_id",
            String(32),
            ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    subject_id: str = Field(sa_column=Column("subject_id", String(32), primary_key=True))
    alerted_at: datetime = Field(sa_column=Column("alerted_at", UtcDateTime(), nullable=False))


class GoalNotice(SQLModel, table=True):
    """A consented contact's goal event that has been queued as `contact.goal_completed`."""

    __tablename__ = "goal_notices"

    site_id: str = Field(sa_column=_site_key())
    event_id: uuid.UUID = Field(sa_column=Column("event_id", Uuid, primary_key=True))
    noticed_at: datetime = Field(sa_column=Column("noticed_at", UtcDateTime(), nullable=False))


class IntentCrossing(SQLModel, table=True):
    """A subject crossed the intent threshold of one definition version (notified once)."""

    __tablename__ = "intent_crossings"

    site_id: str = Field(sa_column=_site_key())
    subject_id: str = Field(sa_column=Column("subject_id", String(32), primary_key=True))
    definition_version: int = Field(
        sa_column=Column("definition_version", Integer, primary_key=True)
    )
    crossed_at: datetime = Field(sa_column=Column("crossed_at", UtcDateTime(), nullable=False))


class LedgerCursor(SQLModel, table=True):
    """How far the webhook sender has read each site's consent ledger (for erasure notices)."""

    __tablename__ = "webhook_ledger_cursors"

    site_id: str = Field(sa_column=_site_key())
    seq: int = Field(sa_column=Column("seq", BigInteger, nullable=False))


# Core statements (the outbox, upserts, reports) keep using the tables.
outcomes = table_of(Outcome)
webhook_subscriptions = table_of(WebhookSubscription)
webhook_deliveries = table_of(WebhookDelivery)
webhook_attempts = table_of(WebhookAttempt)
webhook_recipients = table_of(WebhookRecipient)
intent_crossings = table_of(IntentCrossing)
ledger_cursors = table_of(LedgerCursor)
destination_alerts = table_of(DestinationAlert)
goal_notices = table_of(GoalNotice)
