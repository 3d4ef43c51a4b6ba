"""What the API holds about a consent subject, for the consent service's data-subject rights.

The API owns `outcomes` (what the site reported happened later, e.g. a meeting booked) and
the destinations (webhooks, Slack, HubSpot) with `webhook_recipients`, the record of which
destination received data about which subject. The consent service exports and erases a
subject, so it reads both and deletes the outcomes through this module (services may not
import each other; they share the database). The destinations themselves are told of an
erasure by the API's sender, which reads the `erased` ledger row (contact.deleted, a
HubSpot delete): that is why the recipient rows are left for it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import BigInteger, Column, DateTime, String, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import table

outcomes = table(
    "outcomes",
    Column("site_id", String(32)),
    Column("outcome_id", String(64)),
    Column("kind", String(32)),
    Column("subject_id", String(32)),
    Column("amount_micros", BigInteger),
    Column("currency", String(3)),
    Column("occurred_at", DateTime(timezone=True)),
    Column("recorded_at", DateTime(timezone=True)),
)
destinations = table(
    "webhook_subscriptions",
    Column("id", String(32)),
    Column("url", String(2048)),
    Column("kind", String(16)),
    Column("deleted_at", DateTime(timezone=True)),
)
recipients = table(
    "webhook_recipients",
    Column("subscription_id", String(32)),
    Column("subject_id", String(32)),
    Column("site_id", String(32)),
    Column("first_sent_at", DateTime(timezone=True)),
)

KIND_NAMES = {"webhook": "Webhook", "slack": "Slack", "hubspot": "HubSpot CRM"}


def _text(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Recipient:
    """A destination that received data about the subject: its kind and host only (a Slack
    URL is a secret; the host says who received it)."""

    kind: str
    host: str
    first_sent_at: datetime
    removed: bool  # the site has deleted the destination since

    @property
    def name(self) -> str:
        return f"{KIND_NAMES.get(self.kind, self.kind)} ({self.host})"

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": "recipient",
            "kind": self.kind,
            "host": self.host,
            "first_sent_at": _text(self.first_sent_at),
            "removed": self.removed,
        }


async def subject_recipients(
    *, conn: AsyncConnection, site_id: str, subject_id: str
) -> list[Recipient]:
    """Every destination that received data about the subject, first sent first."""
    rows = await conn.execute(
        select(
            destinations.c.kind,
            destinations.c.url,
            destinations.c.deleted_at,
            recipients.c.first_sent_at,
        )
        .join(destinations, destinations.c.id == recipients.c.subscription_id)
        .where(recipients.c.site_id == site_id, recipients.c.subject_id == subject_id)
        .order_by(recipients.c.first_sent_at, destinations.c.id)
    )
    return [
        Recipient(
            kind=row.kind,
            host=urlsplit(row.url).hostname or "",
            first_sent_at=row.first_sent_at,
            removed=row.deleted_at is not None,
        )
        for row in rows
    ]


async def subject_outcomes(
    *, conn: AsyncConnection, site_id: str, subject_id: str
) -> list[dict[str, Any]]:
    """The outcomes the site recorded about the subject, oldest first."""
    rows = await conn.execute(
        select(outcomes)
        .where(outcomes.c.site_id == site_id, outcomes.c.subject_id == subject_id)
        .order_by(outcomes.c.occurred_at, outcomes.c.outcome_id)
    )
    return [
        {
            "id": row.outcome_id,
            "kind": row.kind,
            "amount": None
            if row.amount_micros is None
            else str((Decimal(row.amount_micros) / 1_000_000).normalize()),
            "currency": row.currency,
            "occurred_at": _text(row.occurred_at),
            "recorded_at": _text(row.recorded_at),
        }
        for row in rows
    ]


async def erase_subject_outcomes(*, conn: AsyncConnection, site_id: str, subject_id: str) -> int:
    """Delete the outcomes about the subject (in the erasure's transaction); how many went."""
    result = await conn.execute(
        delete(outcomes).where(outcomes.c.site_id == site_id, outcomes.c.subject_id == subject_id)
    )
    return int(result.rowcount or 0)
