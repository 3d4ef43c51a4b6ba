"""Segments: a site's named, saved filter trees, and their use in queries.

A query (or report) names a segment with the condition
`{"dimension": "segment", "op": "is", "values": [id, ...]}` anywhere in its filter tree:
before anything runs, each such condition becomes the segments' own trees (any of them;
`is_not`: none of them), so a segment is exactly the filters it stands for, under the same
k-anonymity refusals. Segments do not nest (SegmentIn refuses a segment condition).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.stats.exceptions import (
    SegmentNameTaken,
    SegmentNotFound,
    SegmentsTooLarge,
    TooManySegments,
    UnknownSegment,
)
from services.api.stats.models import segments
from services.api.stats.schemas import (
    SEGMENT,
    AllOf,
    AnyOf,
    Condition,
    FilterNode,
    FilterOp,
    HasDone,
    HasNotDone,
    NoneOf,
    SegmentIn,
    SegmentOut,
    check_filters,
    filter_conditions,
)

MAX_SEGMENTS = 200  # per site
NODE: TypeAdapter[FilterNode] = TypeAdapter(FilterNode)


def _out(row: Any) -> SegmentOut:
    return SegmentOut(
        id=row.id,
        name=row.name,
        filters=NODE.validate_python(row.filters),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _stored(filters: FilterNode) -> Any:
    return NODE.dump_python(filters, mode="json", by_alias=True)


async def list_segments(*, engine: AsyncEngine, site_id: str) -> list[SegmentOut]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(segments).where(segments.c.site_id == site_id).order_by(segments.c.name)
        )
        return [_out(row) for row in rows]


async def get_segment(*, engine: AsyncEngine, site_id: str, segment_id: str) -> SegmentOut:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(segments).where(segments.c.site_id == site_id, segments.c.id == segment_id)
            )
        ).first()
    if row is None:
        raise SegmentNotFound()
    return _out(row)


async def create_segment(*, engine: AsyncEngine, site_id: str, body: SegmentIn) -> SegmentOut:
    now = datetime.now(UTC)
    made = SegmentOut(
        id=secrets.token_hex(8),
        name=body.name,
        filters=body.filters,
        created_at=now,
        updated_at=now,
    )
    try:
        async with engine.begin() as conn:
            count = (
                await conn.execute(
                    select(segments.c.id).where(segments.c.site_id == site_id).limit(MAX_SEGMENTS)
                )
            ).all()
            if len(count) >= MAX_SEGMENTS:
                raise TooManySegments(MAX_SEGMENTS)
            await conn.execute(
                insert(segments).values(
                    id=made.id,
                    site_id=site_id,
                    name=made.name,
                    filters=_stored(made.filters),
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError:
        raise SegmentNameTaken() from None
    return made


async def replace_segment(
    *, engine: AsyncEngine, site_id: str, segment_id: str, body: SegmentIn
) -> SegmentOut:
    try:
        async with engine.begin() as conn:
            changed = await conn.execute(
                update(segments)
                .where(segments.c.site_id == site_id, segments.c.id == segment_id)
                .values(name=body.name, filters=_stored(body.filters), updated_at=datetime.now(UTC))
            )
    except IntegrityError:
        raise SegmentNameTaken() from None
    if changed.rowcount == 0:
        raise SegmentNotFound()
    return await get_segment(engine=engine, site_id=site_id, segment_id=segment_id)


async def delete_segment(*, engine: AsyncEngine, site_id: str, segment_id: str) -> None:
    async with engine.begin() as conn:
        deleted = await conn.execute(
            delete(segments).where(segments.c.site_id == site_id, segments.c.id == segment_id)
        )
    if deleted.rowcount == 0:
        raise SegmentNotFound()


def expand(node: FilterNode, saved: dict[str, FilterNode]) -> FilterNode:
    """The tree with each segment condition replaced by the segments' trees."""
    if isinstance(node, Condition):
        if node.dimension != SEGMENT:
            return node
        missing = [v for v in node.values if v not in saved]
        if missing:
            raise UnknownSegment(missing[0])
        trees = [saved[v] for v in dict.fromkeys(node.values)]
        either = trees[0] if len(trees) == 1 else AnyOf.model_validate({"or": trees})
        return either if node.op is FilterOp.is_ else NoneOf.model_validate({"not": either})
    if isinstance(node, NoneOf):
        return NoneOf.model_validate({"not": expand(node.not_, saved)})
    if isinstance(node, AllOf):
        return AllOf.model_validate({"and": [expand(c, saved) for c in node.and_]})
    if isinstance(node, HasDone):
        return HasDone(has_done=expand(node.has_done, saved))
    if isinstance(node, HasNotDone):
        return HasNotDone(has_not_done=expand(node.has_not_done, saved))
    return AnyOf.model_validate({"or": [expand(c, saved) for c in node.or_]})


async def with_segments(
    *, engine: AsyncEngine, site_id: str, filters: FilterNode | None
) -> FilterNode | None:
    """`filters` with the site's segments put in place (unchanged without any); 422 for a
    segment the site does not have, or a tree grown past the filter limits."""
    if filters is None:
        return None
    ids = {v for c in filter_conditions(filters) if c.dimension == SEGMENT for v in c.values}
    if not ids:
        return filters
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(segments.c.id, segments.c.filters).where(
                segments.c.site_id == site_id, segments.c.id.in_(sorted(ids))
            )
        )
        saved = {row.id: NODE.validate_python(row.filters) for row in rows}
    expanded = expand(filters, saved)
    try:
        check_filters(expanded)
    except ValueError as exc:
        raise SegmentsTooLarge(str(exc)) from None
    return expanded
