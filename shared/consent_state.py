"""Who has active `identification` consent right now, read straight from the consent ledger.

The consent service owns the ledger; other services may read it (never write). This is the
one read-only query they share, so a withdrawal, expiry or erasure takes effect for them at
the very next call: there is no cache in between. The ledger's sequence numbers also let a
reader follow what ended since it last looked (`identification_ends_between`), durably: the
ledger is the consent service's record of every change, published revocations are not kept.

A subject's identification consent is active when its latest ledger row about
`identification` (or about every purpose, "*") is `given`, has not expired, and was given
for the text of the identification purpose in the site's current notice (a changed text
asks again, as the consent service's own state does), or, when another consent manager
showed the text (the row's `source`), for that manager's text: its re-asking is its own.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

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
    Column("notice_version", Integer),
    Column("notice_hash", String(64)),
    Column("method", String(16)),
    Column("recorded_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
    Column("source", String(32)),
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
            or_(ledger.c.notice_hash == current_hash, ledger.c.source.is_not(None)),
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


# --- what a subject agreed to -----------------------------------------------------------------

CONTACT_PURPOSE = "marketing_contact"  # the default notice's "contact you about our products"
CONTACT_DPV_TERM = "dpv:DirectMarketing"  # a site's own purpose with this term is its equivalent

purposes = table(
    "consent_purposes",
    Column("site_id", String(32)),
    Column("purpose", String(64)),
    Column("position", Integer),
    Column("title", String(200)),
    Column("dpv_term", String(200)),
)


@dataclass(frozen=True, slots=True)
class Agreement:
    """One purpose a subject's consent is active for: given for the current text, unexpired."""

    purpose: str
    title: str
    given_at: datetime
    expires_at: datetime | None
    invites_contact: bool  # the visitor agreed to be contacted (marketing_contact or its equal)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


async def agreements(
    *, conn: AsyncConnection, site_id: str, subject_id: str, now: datetime | None = None
) -> list[Agreement]:
    """The purposes `subject_id` has active consent for right now, in the notice's order.

    As for identification above: the latest ledger row about the purpose (or about every
    purpose) is `given`, unexpired, and for the purpose's text in the current notice."""
    now = now or datetime.now(UTC)
    current_version = (
        select(func.max(notices.c.version)).where(notices.c.site_id == site_id).scalar_subquery()
    )
    texts = await conn.execute(
        select(notice_texts.c.purpose, notice_texts.c.text_hash).where(
            notice_texts.c.site_id == site_id, notice_texts.c.version == current_version
        )
    )
    current = {row.purpose: row.text_hash for row in texts}
    known = {
        row.purpose: row
        for row in await conn.execute(
            select(purposes).where(purposes.c.site_id == site_id).order_by(purposes.c.position)
        )
    }
    rows = await conn.execute(
        select(ledger)
        .where(ledger.c.site_id == site_id, ledger.c.subject_id == subject_id)
        .order_by(ledger.c.seq)
    )
    latest: dict[str, Any] = {}
    for row in rows:
        for purpose in current if row.purpose == ALL_PURPOSES else [row.purpose]:
            latest[purpose] = row
    found = []
    for purpose, row in latest.items():
        expires = _aware(row.expires_at)
        if (
            row.event != GIVEN
            or (expires is not None and expires <= now)
            or row.notice_hash != current.get(purpose)
        ):
            continue
        about = known.get(purpose)
        found.append(
            Agreement(
                purpose=purpose,
                title=about.title if about is not None else purpose,
                given_at=_aware(row.recorded_at) or now,
                expires_at=expires,
                invites_contact=purpose == CONTACT_PURPOSE
                or (about is not None and about.dpv_term == CONTACT_DPV_TERM),
            )
        )
    order = list(known)
    found.sort(key=lambda a: order.index(a.purpose) if a.purpose in order else len(order))
    return found
