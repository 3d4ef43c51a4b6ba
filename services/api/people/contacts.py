"""Consented contacts: subjects with active identification consent, their linked events, and
the explained engagement score and intent signals under the site's current definition.

Consent is read from the ledger on every call (shared.consent_state), so a withdrawal or an
erasure takes effect at the very next call. Nothing about other visitors is ever read: only
events the collector linked to a subject (which it does only under that consent).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.api.engagement.rules import PageVisit, Score, SessionFacts, matches_any, score
from services.api.engagement.schemas import Definition
from services.api.engagement.service import current_definition
from services.api.people.schemas import (
    Contact,
    ContactDetail,
    ContactIdentity,
    ContactSummary,
    Contribution,
    IntentSignalOut,
    TimelineEvent,
)
from shared.consent_state import identified_subjects
from shared.identities import SharedIdentity, shared_identities
from shared.models import BUILTIN_EVENTS, events

TIMELINE_LIMIT = 500

EVENT_COLUMNS = (
    events.c.subject_id,
    events.c.occurred_at,
    events.c.name,
    events.c.host,
    events.c.path,
    events.c.session_id,
    events.c.pageview_id,
    events.c.engaged_ms,
    events.c.scroll_depth,
    events.c.source,
    events.c.utm_campaign,
)


@dataclass(frozen=True, slots=True)
class Scored:
    subject_id: str
    score: Score
    summary: ContactSummary
    definition: Definition
    identity: SharedIdentity | None = None


def session_facts(rows: Sequence[Any]) -> list[SessionFacts]:
    """One subject's linked events (ordered by time) as the sessions scoring reads."""
    engaged_by_pageview: dict[uuid.UUID, int] = defaultdict(int)
    for row in rows:
        if row.name != "pageview" and row.pageview_id is not None and row.engaged_ms:
            engaged_by_pageview[row.pageview_id] += row.engaged_ms
    grouped: dict[object, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.session_id if row.session_id is not None else ("event", id(row))].append(row)
    sessions = []
    for session_rows in grouped.values():
        pages = tuple(
            PageVisit(
                path=row.path,
                at=row.occurred_at,
                engaged_ms=engaged_by_pageview.get(row.pageview_id, 0) if row.pageview_id else 0,
            )
            for row in session_rows
            if row.name == "pageview"
        )
        sessions.append(
            SessionFacts(
                started_at=min(row.occurred_at for row in session_rows),
                engaged_ms=sum(row.engaged_ms or 0 for row in session_rows),
                pageviews=len(pages),
                goals=tuple(row.name for row in session_rows if row.name not in BUILTIN_EVENTS),
                pages=pages,
            )
        )
    return sorted(sessions, key=lambda session: session.started_at)


def summarise(
    definition: Definition, rows: Sequence[Any], sessions: Sequence[SessionFacts]
) -> ContactSummary:
    moments = [row.occurred_at for row in rows]
    return ContactSummary(
        sessions=len(sessions),
        pageviews=sum(s.pageviews for s in sessions),
        engaged_ms=sum(s.engaged_ms for s in sessions),
        max_scroll_depth=max((row.scroll_depth or 0 for row in rows), default=0),
        goals=sum(len(s.goals) for s in sessions),
        high_intent_pageviews=sum(
            1
            for s in sessions
            for page in s.pages
            if matches_any(page.path, definition.high_intent_pages)
        ),
        active_days=len({moment.date() for moment in moments}),
        first_seen_at=min(moments, default=None),
        last_seen_at=max(moments, default=None),
    )


async def _linked_events(
    conn: AsyncConnection,
    site_id: str,
    subject_ids: Collection[str],
    between: tuple[datetime, datetime] | None = None,
) -> dict[str, list[Any]]:
    by_subject: dict[str, list[Any]] = {subject: [] for subject in subject_ids}
    if not subject_ids:
        return by_subject
    statement = select(*EVENT_COLUMNS).where(
        events.c.site_id == site_id, events.c.subject_id.in_(list(subject_ids))
    )
    if between is not None:
        statement = statement.where(
            events.c.occurred_at >= between[0], events.c.occurred_at < between[1]
        )
    rows = await conn.execute(statement.order_by(events.c.occurred_at, events.c.event_id))
    for row in rows:
        by_subject[row.subject_id].append(row)
    return by_subject


async def score_subjects(
    *,
    engine: AsyncEngine,
    site_id: str,
    subject_ids: Collection[str] | None = None,
    between: tuple[datetime, datetime] | None = None,
    secret: bytes | None = None,
) -> tuple[Definition, list[Scored], dict[str, list[Any]]]:
    """Score the site's identifiable subjects (all, or those of `subject_ids` still consented),
    on all their linked events or on those in [start, end) of `between`; with the server
    `secret`, each with the identity it shared (read in the same transaction as its consent).

    Returns the definition used, the scored subjects (by subject id) and their linked events.
    """
    definition = await current_definition(engine, site_id)
    async with engine.connect() as conn:
        consented = await identified_subjects(conn=conn, site_id=site_id, subject_ids=subject_ids)
        linked = await _linked_events(conn, site_id, sorted(consented), between)
        named = (
            await shared_identities(
                conn=conn, secret=secret, site_id=site_id, subject_ids=sorted(consented)
            )
            if secret is not None and consented
            else {}
        )
    scored = []
    for subject_id in sorted(consented):
        rows = linked[subject_id]
        sessions = session_facts(rows)
        scored.append(
            Scored(
                subject_id=subject_id,
                score=score(definition, sessions),
                summary=summarise(definition, rows, sessions),
                definition=definition,
                identity=named.get(subject_id),
            )
        )
    return definition, scored, linked


def identity_out(identity: SharedIdentity | None) -> ContactIdentity | None:
    if identity is None:
        return None
    return ContactIdentity(
        kind=identity.kind,
        value=identity.value,
        email=identity.email,
        display_name=identity.display_name,
        method=identity.method,
        verified_at=identity.verified_at,
    )


def contact_out(scored: Scored) -> Contact:
    result = scored.score
    return Contact(
        subject_id=scored.subject_id,
        identity=identity_out(scored.identity),
        score=result.value,
        intent=result.has_intent,
        intent_threshold=scored.definition.intent_threshold,
        signals=[
            IntentSignalOut(rule=s.rule, explanation=s.explanation) for s in result.intent_signals
        ],
        explanation=[
            Contribution(signal=c.signal, amount=c.amount, weight=c.weight, points=c.points)
            for c in result.contributions
        ],
        summary=scored.summary,
        definition_version=result.definition_version,
    )


def timeline(rows: Sequence[Any]) -> list[TimelineEvent]:
    return [
        TimelineEvent(
            occurred_at=row.occurred_at,
            name=row.name,
            page=f"{row.host}{row.path}",
            engaged_ms=row.engaged_ms,
            scroll_depth=row.scroll_depth,
            source=row.source,
            utm_campaign=row.utm_campaign,
        )
        for row in rows[-TIMELINE_LIMIT:]
    ]


async def list_contacts(
    *, engine: AsyncEngine, secret: bytes, site_id: str
) -> tuple[int, list[Contact]]:
    """Every consented contact of the site with the identity it shared, highest score first."""
    definition, scored, _ = await score_subjects(engine=engine, site_id=site_id, secret=secret)
    contacts = sorted((contact_out(s) for s in scored), key=lambda c: (-c.score, c.subject_id))
    return definition.version, contacts


async def get_contact(
    *, engine: AsyncEngine, secret: bytes, site_id: str, subject_id: str
) -> ContactDetail | None:
    """One consented contact with its identity and timeline, or None (unknown, withdrawn or
    erased alike)."""
    _, scored, linked = await score_subjects(
        engine=engine, site_id=site_id, subject_ids=[subject_id], secret=secret
    )
    if not scored:
        return None
    return ContactDetail(
        **contact_out(scored[0]).model_dump(), timeline=timeline(linked[subject_id])
    )
