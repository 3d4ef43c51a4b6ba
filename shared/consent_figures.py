"""Aggregate consent figures for the site owner, read (never written) from the consent ledger.

The consent service owns the ledger and the data-subject requests; the API's dashboard shows
them in aggregate only, and reads them here, as it reads consent state (shared.consent_state).

- Decisions, per purpose and notice version: each subject counts once, by its latest
  `given` or `refused` about that purpose and version recorded in the range; a refusal the
  browser's Global Privacy Control made (`gpc_opt_out`) counts as a refusal and is also
  counted apart. Opt-in rate = given / (given + refused).
- GPC share: of the subjects who decided anything in the range, those whose browser sent
  Sec-GPC: 1 (a `gpc_opt_out` row).
- Requests: export and erasure requests with their legal deadline (GDPR: a month; CCPA: 45
  days), open ones first, the most urgent on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, ColumnElement, DateTime, String, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import table

from shared.consent_state import LedgerEvent, ledger

DECIDED = (LedgerEvent.given.value, LedgerEvent.refused.value, LedgerEvent.gpc_opt_out.value)

requests = table(
    "consent_requests",
    Column("request_id", String(32)),
    Column("site_id", String(32)),
    Column("kind", String(16)),
    Column("regime", String(8)),
    Column("received_at", DateTime(timezone=True)),
    Column("due_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
)


@dataclass(frozen=True, slots=True)
class DecisionRates:
    """How the subjects deciding about one purpose under one notice version decided."""

    purpose: str
    notice_version: int | None
    given: int
    refused: int  # including the GPC refusals
    gpc_refused: int

    @property
    def decided(self) -> int:
        return self.given + self.refused

    @property
    def opt_in_rate(self) -> float | None:
        return self.given / self.decided if self.decided else None

    @property
    def refusal_rate(self) -> float | None:
        return self.refused / self.decided if self.decided else None


@dataclass(frozen=True, slots=True)
class GpcShare:
    subjects: int  # subjects with a decision in the range
    with_gpc: int  # of those, subjects whose browser sent Sec-GPC: 1

    @property
    def share(self) -> float | None:
        return self.with_gpc / self.subjects if self.subjects else None


@dataclass(frozen=True, slots=True)
class SubjectRequest:
    """A data-subject request, without the subject: the dashboard shows requests, not people."""

    request_id: str
    kind: str  # export | erasure
    regime: str  # gdpr | ccpa
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None

    def overdue(self, now: datetime) -> bool:
        return self.completed_at is None and self.due_at <= now


def _in_range(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(ledger.c.recorded_at >= start, ledger.c.recorded_at < end)


async def decision_rates(
    *, conn: AsyncConnection, site_id: str, start: datetime, end: datetime
) -> list[DecisionRates]:
    """Per purpose and notice version, each deciding subject's latest decision in [start, end)."""
    latest = (
        select(func.max(ledger.c.seq).label("seq"))
        .where(ledger.c.site_id == site_id, ledger.c.event.in_(DECIDED), _in_range(start, end))
        .group_by(ledger.c.subject_id, ledger.c.purpose, ledger.c.notice_version)
        .subquery("latest")
    )
    given = LedgerEvent.given.value
    gpc = LedgerEvent.gpc_opt_out.value
    rows = await conn.execute(
        select(
            ledger.c.purpose,
            ledger.c.notice_version,
            func.sum(case((ledger.c.event == given, 1), else_=0)).label("given"),
            func.sum(case((ledger.c.event != given, 1), else_=0)).label("refused"),
            func.sum(case((ledger.c.event == gpc, 1), else_=0)).label("gpc"),
        )
        .select_from(
            ledger.join(latest, and_(ledger.c.site_id == site_id, ledger.c.seq == latest.c.seq))
        )
        .group_by(ledger.c.purpose, ledger.c.notice_version)
        .order_by(ledger.c.purpose, ledger.c.notice_version)
    )
    return [
        DecisionRates(
            purpose=str(row.purpose),
            notice_version=None if row.notice_version is None else int(row.notice_version),
            given=int(row.given),
            refused=int(row.refused),
            gpc_refused=int(row.gpc),
        )
        for row in rows
    ]


async def gpc_share(
    *, conn: AsyncConnection, site_id: str, start: datetime, end: datetime
) -> GpcShare:
    """Of the subjects deciding in [start, end), how many sent Global Privacy Control."""
    gpc = LedgerEvent.gpc_opt_out.value
    row = (
        await conn.execute(
            select(
                func.count(ledger.c.subject_id.distinct()),
                func.count(case((ledger.c.event == gpc, ledger.c.subject_id)).distinct()),
            ).where(ledger.c.site_id == site_id, ledger.c.event.in_(DECIDED), _in_range(start, end))
        )
    ).one()
    return GpcShare(subjects=int(row[0]), with_gpc=int(row[1]))


async def subject_requests(
    *, conn: AsyncConnection, site_id: str, limit: int = 100
) -> list[SubjectRequest]:
    """The site's requests: open ones first (earliest deadline first), then the latest done."""
    rows = await conn.execute(
        select(requests)
        .where(requests.c.site_id == site_id)
        .order_by(
            case((requests.c.completed_at.is_(None), 0), else_=1),
            case((requests.c.completed_at.is_(None), requests.c.due_at)),
            requests.c.received_at.desc(),
        )
        .limit(limit)
    )
    return [
        SubjectRequest(
            request_id=str(row.request_id),
            kind=str(row.kind),
            regime=str(row.regime),
            received_at=_utc(row.received_at),
            due_at=_utc(row.due_at),
            completed_at=None if row.completed_at is None else _utc(row.completed_at),
        )
        for row in rows
    ]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
