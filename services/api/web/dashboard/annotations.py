"""Notes on the chart: the site's own ("launched the pricing page") and the automatic ones
that explain a moved number: a new consent notice version (opt-in rates are per notice)
and a new engagement definition version (the engagement rate follows the definition).

The automatic ones are read from the tables that keep those versions with their dates:
`engagement_definitions` (this service's) and `consent_notices` (the consent service's,
read only, by name, as shared.consent_state reads the ledger). A site's first definition
and first notice are where its numbers start, not a change, so they are not annotated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Column, DateTime, Integer, String, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import table

from services.api.engagement.models import engagement_definitions
from services.api.web.dashboard.models import dashboard_annotations

MAX_TEXT = 200
MAX_PER_SITE = 1000

# The consent service's published notice versions (read only).
consent_notices = table(
    "consent_notices",
    Column("site_id", String(32)),
    Column("version", Integer),
    Column("published_at", DateTime(timezone=True)),
)


@dataclass(frozen=True)
class Annotation:
    day: date
    text: str
    kind: str  # manual, consent_notice, engagement_definition
    id: int | None = None  # manual ones only: what "delete" names


def local_day(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


async def list_annotations(
    *, engine: AsyncEngine, site_id: str, days: tuple[date, date], timezone: str
) -> list[Annotation]:
    """The annotations on `days` (the site's local days), by day, manual ones first."""
    first, last = days
    # Versions stored in UTC: read a day either side, then keep the local days asked for.
    since = datetime.combine(first - timedelta(days=1), datetime.min.time(), UTC)
    until = datetime.combine(last + timedelta(days=2), datetime.min.time(), UTC)
    manual = (
        select(
            dashboard_annotations.c.id, dashboard_annotations.c.day, dashboard_annotations.c.text
        )
        .where(
            dashboard_annotations.c.site_id == site_id,
            dashboard_annotations.c.day >= first,
            dashboard_annotations.c.day <= last,
        )
        .order_by(dashboard_annotations.c.day, dashboard_annotations.c.id)
    )
    definitions = select(
        engagement_definitions.c.version, engagement_definitions.c.created_at
    ).where(
        engagement_definitions.c.site_id == site_id,
        engagement_definitions.c.version > 1,
        engagement_definitions.c.created_at >= since,
        engagement_definitions.c.created_at < until,
    )
    notices = select(consent_notices.c.version, consent_notices.c.published_at).where(
        consent_notices.c.site_id == site_id,
        consent_notices.c.version > 1,
        consent_notices.c.published_at >= since,
        consent_notices.c.published_at < until,
    )
    found: list[Annotation] = []
    async with engine.connect() as conn:
        found += [
            Annotation(day=row.day, text=row.text, kind="manual", id=row.id)
            for row in await conn.execute(manual)
        ]
        found += [
            Annotation(
                day=local_day(row.created_at, timezone),
                text=f"Engagement definition version {row.version}",
                kind="engagement_definition",
            )
            for row in await conn.execute(definitions)
        ]
        found += [
            Annotation(
                day=local_day(row.published_at, timezone),
                text=f"Consent notice version {row.version}",
                kind="consent_notice",
            )
            for row in await conn.execute(notices)
        ]
    kept = [note for note in found if first <= note.day <= last]
    return sorted(kept, key=lambda note: (note.day, note.kind != "manual"))


class AnnotationRefused(ValueError):
    """Why an annotation was not added, in words for the form."""


async def add_annotation(*, engine: AsyncEngine, site_id: str, day: date, text: str) -> int:
    """Note `text` on `day` of the site's chart; its id."""
    text = " ".join(text.split())
    if not text:
        raise AnnotationRefused("Write what happened on that day.")
    if len(text) > MAX_TEXT:
        raise AnnotationRefused(f"At most {MAX_TEXT} characters.")
    async with engine.begin() as conn:
        count = len(
            (
                await conn.execute(
                    select(dashboard_annotations.c.id)
                    .where(dashboard_annotations.c.site_id == site_id)
                    .limit(MAX_PER_SITE)
                )
            ).all()
        )
        if count >= MAX_PER_SITE:
            raise AnnotationRefused(f"A site has at most {MAX_PER_SITE} notes; delete one first.")
        result = await conn.execute(
            insert(dashboard_annotations)
            .values(site_id=site_id, day=day, text=text, created_at=datetime.now(UTC))
            .returning(dashboard_annotations.c.id)
        )
        return int(result.scalar_one())


async def delete_annotation(*, engine: AsyncEngine, site_id: str, annotation_id: int) -> bool:
    """Remove one of the site's notes; whether there was one."""
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(dashboard_annotations).where(
                dashboard_annotations.c.site_id == site_id,
                dashboard_annotations.c.id == annotation_id,
            )
        )
    return bool(result.rowcount)
