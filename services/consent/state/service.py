"""A subject's consent state: each purpose's latest ledger row, read against the current notice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.consent.crypto import as_utc, utc_text
from services.consent.ledger.service import LedgerEntry, subject_entries
from services.consent.notices.service import Notice, Purpose, load_notice
from shared.consent_state import ALL_PURPOSES, LedgerEvent


@dataclass(frozen=True, slots=True)
class PurposeState:
    purpose: Purpose
    status: str | None  # the latest ledger event about it, or None
    granted: bool
    ask: bool  # never asked, expired, or its text changed since the decision
    decided_at: datetime | None
    expires_at: datetime | None

    def public(self) -> dict[str, Any]:
        return {
            **self.purpose.public(),
            "status": self.status,
            "granted": self.granted,
            "ask": self.ask,
            "decided_at": utc_text(self.decided_at),
            "expires_at": utc_text(self.expires_at),
        }


def states_from(notice: Notice, entries: list[LedgerEntry], now: datetime) -> list[PurposeState]:
    """Each purpose's state for one subject, from its ledger rows."""
    latest: dict[str, LedgerEntry] = {}
    for entry in entries:
        if entry.purpose == ALL_PURPOSES:
            for purpose in notice.purposes:
                latest[purpose.purpose] = entry
        else:
            latest[entry.purpose] = entry
    states = []
    for purpose in notice.purposes:
        last = latest.get(purpose.purpose)
        if last is None:
            states.append(PurposeState(purpose, None, False, True, None, None))
            continue
        expires_at = as_utc(last.expires_at) if last.expires_at else None
        lapsed = expires_at is not None and expires_at <= now
        # A decision made in another consent manager is for the text it showed (its hash is
        # recorded): asking again when that text changes is that manager's part.
        same_text = last.notice_hash == purpose.text_hash or last.source is not None
        status = (
            LedgerEvent.expired.value if last.event == LedgerEvent.given and lapsed else last.event
        )
        granted = status == LedgerEvent.given and same_text
        ask = status in (LedgerEvent.expired, LedgerEvent.erased) or (
            status != LedgerEvent.gpc_opt_out and not same_text
        )
        states.append(
            PurposeState(purpose, status, granted, ask, as_utc(last.recorded_at), expires_at)
        )
    return states


def state_of(states: Sequence[PurposeState], purpose: str) -> PurposeState:
    """One purpose's state among a subject's states."""
    return next(state for state in states if state.purpose.purpose == purpose)


async def consent_state(
    *, engine: AsyncEngine, site_id: str, subject_id: str, now: datetime | None = None
) -> list[PurposeState]:
    """The subject's current choice for every purpose of the current notice."""
    async with engine.connect() as conn:
        notice = await load_notice(conn=conn, site_id=site_id)
        entries = await subject_entries(conn=conn, site_id=site_id, subject_id=subject_id)
    return states_from(notice, entries, now or datetime.now(UTC))
