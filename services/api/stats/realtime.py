"""Realtime: who is on the site now, and the last half hour's pages and sources.

Read from the raw events (the rollups are hourly), through the (site_id, occurred_at) index:
a few minutes of one site's events. Current visitors are the distinct visitors with any
event in the last 5 minutes (a page still open sends engagement); pages and sources count
the distinct visitors of the last 30 minutes. Pages are answered whole; sources are a
quasi-identifier (privacy.py), folded under k as a query's breakdown is: a source with
fewer than k visitors that count toward k goes into (other), and an (other) that is itself
under k is left out; `notes` says so in words.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.engagement.service import answering_definition
from services.api.stats.query import Answer, counts_toward_k, privacy_notes, reading
from services.api.stats.schemas import MISSING, OTHER
from shared.models import events, sessions

CURRENT = timedelta(minutes=5)
RECENT = timedelta(minutes=30)
MAX_ROWS = 100


class RealtimeRow(BaseModel):
    value: str
    visitors: int


class RealtimeOut(BaseModel):
    as_of: datetime = Field(description="the moment the answer was read (UTC)")
    visitors: int = Field(description="distinct visitors with an event in the last 5 minutes")
    pages: list[RealtimeRow] = Field(description="last 30 minutes: pages by visitors")
    sources: list[RealtimeRow] = Field(
        description="last 30 minutes: sources by visitors; small ones folded into (other)"
    )
    k: int
    notes: list[str] = Field(default=[], description="what k folded or left out, and why")


async def realtime(
    *, engine: AsyncEngine, site_id: str, limit: int, timeout_s: float
) -> RealtimeOut:
    now = datetime.now(UTC)
    k = (await answering_definition(engine=engine, site_id=site_id, version=None)).k
    recent = [events.c.site_id == site_id, events.c.occurred_at >= now - RECENT]
    current = select(func.count(events.c.visitor_hash.distinct())).where(
        events.c.site_id == site_id, events.c.occurred_at >= now - CURRENT
    )
    path = events.c.path
    pages = (
        select(path, func.count(events.c.visitor_hash.distinct()).label("visitors"))
        .where(*recent, events.c.name == "pageview")
        .group_by(path)
        .order_by(func.count(events.c.visitor_hash.distinct()).desc(), path)
        .limit(limit)
    )
    facts = sessions.alias("facts")
    source = func.coalesce(events.c.session_source, literal(MISSING)).label("source")
    counted = case((counts_toward_k(facts), events.c.visitor_hash))
    sources = (
        select(
            source,
            func.count(events.c.visitor_hash.distinct()).label("visitors"),
            func.count(counted.distinct()).label("counted"),
        )
        .select_from(events.outerjoin(facts, facts.c.session_id == events.c.session_id))
        .where(*recent)
        .group_by(source)
    )
    async with reading(engine, timeout_s, filtered=False) as conn:
        visitors = int((await conn.execute(current)).scalar_one())
        page_rows = [
            RealtimeRow(value=str(r[0]), visitors=int(r[1])) for r in await conn.execute(pages)
        ]
        groups = (await conn.execute(sources)).all()
        small = [row.source for row in groups if k > 1 and int(row.counted) < k]
        other: Any = None
        if small:
            other = (
                await conn.execute(
                    select(
                        func.count(events.c.visitor_hash.distinct()),
                        func.count(counted.distinct()),
                    )
                    .select_from(events.outerjoin(facts, facts.c.session_id == events.c.session_id))
                    .where(*recent, source.in_(small))
                )
            ).one()
    shown = [
        RealtimeRow(value=str(row.source), visitors=int(row.visitors))
        for row in groups
        if row.source not in small
    ]
    shown.sort(key=lambda row: (-row.visitors, row.value))
    shown = shown[:limit]
    suppressed = other is not None and int(other[1]) < k
    if other is not None and not suppressed:
        shown.append(RealtimeRow(value=OTHER, visitors=int(other[0])))
    folded = Answer(
        rows=[],
        folded_groups=len(small),
        suppressed=suppressed,
        total_rows=len(shown),
        folded_visitors=0 if other is None or suppressed else int(other[0]),
    )
    return RealtimeOut(
        as_of=now,
        visitors=visitors,
        pages=page_rows,
        sources=shown,
        k=k,
        notes=privacy_notes(folded, k=k, guarded=["source"]),
    )
