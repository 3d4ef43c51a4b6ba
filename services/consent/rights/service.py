"""Data-subject requests: export and erasure, tracked against their legal deadlines."""

from __future__ import annotations

import calendar
import secrets
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.consent.crypto import as_utc, utc_text
from services.consent.identities.service import get_identity, unlink_identity
from services.consent.keys.service import site_keys
from services.consent.ledger.service import (
    Method,
    NewEntry,
    append_entries,
    lock_chain,
    subject_entries,
)
from services.consent.notices.service import notice_texts
from services.consent.receipts.models import consent_receipts
from services.consent.receipts.service import subject_receipts
from services.consent.rights.models import consent_requests
from services.consent.state.service import consent_state
from services.consent.subjects.models import consent_subjects
from services.consent.tokens.service import revocation, revoke_tokens
from shared.consent_state import ALL_PURPOSES, LedgerEvent
from shared.models import events
from shared.runtime import Resources
from shared.sites import Site
from shared.subject_records import (
    erase_subject_outcomes,
    subject_outcomes,
    subject_recipients,
)


class Regime(StrEnum):
    gdpr = "gdpr"  # Art. 12(3): one month
    ccpa = "ccpa"  # Cal. Civ. Code 1798.130: 45 days


class RequestKind(StrEnum):
    export = "export"
    erasure = "erasure"


def add_month(moment: datetime) -> datetime:
    """The same day next month, or that month's last day (31 Jan -> 28/29 Feb)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def due_at(regime: Regime, received_at: datetime) -> datetime:
    """The legal deadline for answering a request received at `received_at`."""
    if regime is Regime.gdpr:
        return add_month(received_at)
    return received_at + timedelta(days=45)


async def _open_request(
    *,
    conn: AsyncConnection,
    site_id: str,
    subject_id: str,
    kind: RequestKind,
    regime: Regime,
    now: datetime,
) -> str:
    """Record a request with its legal deadline; returns its id."""
    request_id = secrets.token_hex(16)
    await conn.execute(
        insert(consent_requests).values(
            request_id=request_id,
            site_id=site_id,
            subject_id=subject_id,
            kind=kind.value,
            regime=regime.value,
            received_at=now,
            due_at=due_at(regime, now),
        )
    )
    return request_id


async def _complete(*, conn: AsyncConnection, request_id: str, now: datetime) -> None:
    """Mark a request answered."""
    await conn.execute(
        update(consent_requests)
        .where(consent_requests.c.request_id == request_id)
        .values(completed_at=now)
    )


async def list_requests(
    *, engine: AsyncEngine, site_id: str, subject_id: str | None = None
) -> list[dict[str, Any]]:
    """The site's data-subject requests (optionally one subject's), with deadlines."""
    statement = select(consent_requests).where(consent_requests.c.site_id == site_id)
    if subject_id is not None:
        statement = statement.where(consent_requests.c.subject_id == subject_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(statement.order_by(consent_requests.c.received_at))).all()
    return [
        {
            "request_id": row.request_id,
            "subject_id": row.subject_id,
            "kind": row.kind,
            "regime": row.regime,
            "received_at": utc_text(row.received_at),
            "due_at": utc_text(row.due_at),
            "completed_at": utc_text(row.completed_at),
            "overdue": row.completed_at is None and as_utc(row.due_at) < datetime.now(UTC),
        }
        for row in rows
    ]


async def export_subject(
    *,
    resources: Resources,
    site: Site,
    subject_id: str,
    regime: Regime = Regime.gdpr,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Everything held about the subject: ledger rows with the texts shown, identity, receipts,
    linked events, the outcomes the site recorded, and every recipient (the controller,
    Overt, and each destination that received data about the subject)."""
    now = now or datetime.now(UTC)
    async with resources.engine.begin() as conn:
        request_id = await _open_request(
            conn=conn,
            site_id=site.id,
            subject_id=subject_id,
            kind=RequestKind.export,
            regime=regime,
            now=now,
        )
    texts = await notice_texts(engine=resources.engine, site_id=site.id)
    async with resources.engine.connect() as conn:
        entries = await subject_entries(conn=conn, site_id=site.id, subject_id=subject_id)
        receipts = await subject_receipts(conn=conn, site_id=site.id, subject_id=subject_id)
    identity = await get_identity(resources=resources, site_id=site.id, subject_id=subject_id)
    states = await consent_state(
        engine=resources.engine, site_id=site.id, subject_id=subject_id, now=now
    )
    async with resources.engine.connect() as conn:
        linked = [
            {
                "event_id": row.event_id.hex,
                "occurred_at": utc_text(row.occurred_at),
                "name": row.name,
                "page": f"{row.host}{row.path}",
            }
            for row in await conn.execute(
                select(
                    events.c.event_id,
                    events.c.occurred_at,
                    events.c.name,
                    events.c.host,
                    events.c.path,
                )
                .where(events.c.site_id == site.id, events.c.subject_id == subject_id)
                .order_by(events.c.occurred_at)
            )
        ]
        outcomes = await subject_outcomes(conn=conn, site_id=site.id, subject_id=subject_id)
        destinations = await subject_recipients(conn=conn, site_id=site.id, subject_id=subject_id)
    async with resources.engine.begin() as conn:
        await _complete(conn=conn, request_id=request_id, now=now)
    return {
        "format": "https://overt.dev/schemas/subject-export/1",
        "exported_at": utc_text(now),
        "request_id": request_id,
        "controller": {"site_id": site.id, "domain": site.domain},
        "subject_id": subject_id,
        "current_choices": [state.public() for state in states],
        "ledger": [
            {
                **entry.public(),
                "notice_text": texts.get((entry.notice_version, entry.purpose))
                if entry.notice_version is not None
                else None,
            }
            for entry in entries
        ],
        "receipts": receipts,
        "identity": identity.public() if identity else None,
        "linked_events": linked,
        "outcomes": outcomes,
        "recipients": [
            {"name": site.domain, "role": "controller"},
            {"name": "Overt (self-hosted by the controller)", "role": "processor"},
            *(destination.public() for destination in destinations),
        ],
        "requests": await list_requests(
            engine=resources.engine, site_id=site.id, subject_id=subject_id
        ),
    }


async def erase_subject(
    *,
    resources: Resources,
    site: Site,
    subject_id: str,
    method: Method,
    regime: Regime = Regime.gdpr,
    now: datetime | None = None,
) -> str:
    """Destroy the identity, links, receipts, credential and the outcomes recorded about the
    subject; keep a PII-free `erased` row.

    The ledger keeps its pseudonymous rows (proof of what was agreed), the chain stays
    verifiable, and the erasure itself is recorded: from that row the API's sender tells
    every destination that received the subject (contact.deleted, a HubSpot delete).
    Returns the request id.
    """
    now = now or datetime.now(UTC)
    secret = resources.settings.secret()
    async with resources.engine.begin() as conn:
        await lock_chain(conn=conn, site_id=site.id)
        keys = await site_keys(conn=conn, secret=secret, site_id=site.id)
        request_id = await _open_request(
            conn=conn,
            site_id=site.id,
            subject_id=subject_id,
            kind=RequestKind.erasure,
            regime=regime,
            now=now,
        )
        await unlink_identity(conn=conn, site_id=site.id, subject_id=subject_id)
        await erase_subject_outcomes(conn=conn, site_id=site.id, subject_id=subject_id)
        await conn.execute(
            delete(consent_receipts).where(
                consent_receipts.c.site_id == site.id, consent_receipts.c.subject_id == subject_id
            )
        )
        await conn.execute(
            delete(consent_subjects).where(
                consent_subjects.c.site_id == site.id, consent_subjects.c.subject_id == subject_id
            )
        )
        await append_entries(
            conn=conn,
            keys=keys,
            entries=[
                NewEntry(
                    subject_id=subject_id,
                    event=LedgerEvent.erased,
                    purpose=ALL_PURPOSES,
                    method=method,
                )
            ],
            now=now,
        )
        await _complete(conn=conn, request_id=request_id, now=now)
        await revoke_tokens(resources, revocation(site.id, subject_id, now, LedgerEvent.erased))
    return request_id
