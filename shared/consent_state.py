"""Who has active `identification` consent right now, read straight from the consent ledger.

The consent service owns the ledger; other services may read it (never write). This is the
one read-only query they share, so a withdrawal, expiry or erasure takes effect for them at
the very next call: there is no cache in between. The ledger's sequence numbers also let a
reader follow what ended since it last looked (`identification_ends_between`), durably: the
ledger is the consent service's record of every change, published revocations are not kept.

A subject's identification consent is active when its latest ledger row about
`identification` (or about every purpose, "*") is `given`, has not expired, and was given
for the text of the identification purpose in the site's current notice (a changed text
asks again, as the consent service's own state does).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, DateTime, Integer, String, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import table

from shared.consent_tokens import IDENTIFICATION

ALL_PURPOSES = "*"  # the purpose of a ledger row about every purpose (an erasure)


class LedgerEvent(StrEnum):
    """What a ledger row records about a purpose."""

    given = "given"
    refused = "refused"
    withdrawn = "withdrawn"
    expired = "expired"
    gpc_opt_out = "gpc_opt_out"
    erased = "erased"


GIVEN = LedgerEvent.given.value
ERASED = LedgerEvent.erased.value

# Read-only views of the consent service's tables (the columns this module reads).
ledger = table(
    "consent_ledger",
    Column("site_id", String(32)),
    Column("seq", BigInteger),
    Column("subject_id", String(32)),
    Column("event", String(16)),
    Column("purpose", String(64)),
    Column("notice_hash", String(64)),
    Column("recorded_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
)
notices = table("consent_notices", Column("site_id", String(32)), Column("version", Integer))
notice_texts = table(
    "consent_notice_texts",
    Column("site_id", String(32)),
    Column("version", Integer),
    Column("purpose", String(64)),
    Column("text_hash", String(64)),
)


async def identified_subjects(
    *,
    conn: AsyncConnection,
    site_id: str,
    subject_ids: Collection[str] | None = None,
    now: datetime | None = None,
) -> set[str]:
    """The subjects of `site_id` (all, or those among `subject_ids`) identifiable right now."""
    if subject_ids is not None and not subject_ids:
        return set()
    now = now or datetime.now(UTC)
    current_version = (
        select(func.max(notices.c.version)).where(notices.c.site_id == site_id).scalar_subquery()
    )
    current_hash = (
        select(notice_texts.c.text_hash)
        .where(
            notice_texts.c.site_id == site_id,
            notice_texts.c.version == current_version,
            notice_texts.c.purpose == IDENTIFICATION,
        )
        .scalar_subquery()
    )
    latest = select(ledger.c.subject_id, func.max(ledger.c.seq).label("seq")).where(
        ledger.c.site_id == site_id, ledger.c.purpose.in_([IDENTIFICATION, ALL_PURPOSES])
    )
    if subject_ids is not None:
        latest = latest.where(ledger.c.subject_id.in_(list(subject_ids)))
    last = latest.group_by(ledger.c.subject_id).subquery()
    statement = (
        select(ledger.c.subject_id)
        .join(last, and_(ledger.c.seq == last.c.seq, ledger.c.subject_id == last.c.subject_id))
        .where(
            ledger.c.site_id == site_id,
            ledger.c.event == GIVEN,
            or_(ledger.c.expires_at.is_(None), ledger.c.expires_at > now),
            ledger.c.notice_hash == current_hash,
        )
    )
    return set((await conn.execute(statement)).scalars())


async def ledger_head(*, conn: AsyncConnection, site_id: str) -> int:
    """The sequence number of the site's latest ledger row (0 before the first)."""
    head = await conn.execute(select(func.max(ledger.c.seq)).where(ledger.c.site_id == site_id))
    return int(head.scalar() or 0)


@dataclass(frozen=True, slots=True)
class IdentificationEnded:
    """A ledger row that ended a subject's identification consent, or erased the subject."""

    seq: int
    subject_id: str
    event: str  # "erased", or what ended the consent: withdrawn, expired, gpc_opt_out...

    @property
    def erased(self) -> bool:
        return self.event == ERASED


async def identification_ends_between(
    *, conn: AsyncConnection, site_id: str, after_seq: int, through_seq: int
) -> list[IdentificationEnded]:
    """Ledger rows (after_seq, through_seq] of the site, oldest first, that erased a subject or
    ended its identification consent: a row about `identification` (or "*") that is not
    `given`, whose subject's previous such row was `given`. A refusal repeated by a subject
    who had already withdrawn ends nothing and is not listed."""
    purposes = [IDENTIFICATION, ALL_PURPOSES]
    previous = ledger.alias("previous")
    previous_event = (
        select(previous.c.event)
        .where(
            previous.c.site_id == ledger.c.site_id,
            previous.c.subject_id == ledger.c.subject_id,
            previous.c.purpose.in_(purposes),
            previous.c.seq < ledger.c.seq,
        )
        .order_by(previous.c.seq.desc())
        .limit(1)
        .correlate(ledger)
        .scalar_subquery()
    )
    rows = await conn.execute(
        select(ledger.c.seq, ledger.c.subject_id, ledger.c.event, previous_event.label("before"))
        .where(
            ledger.c.site_id == site_id,
            ledger.c.seq > after_seq,
            ledger.c.seq <= through_seq,
            ledger.c.purpose.in_(purposes),
            ledger.c.event != GIVEN,
        )
        .order_by(ledger.c.seq)
    )
    return [
        IdentificationEnded(int(row.seq), str(row.subject_id), str(row.event))
        for row in rows
        if row.event == ERASED or row.before == GIVEN
    ]
