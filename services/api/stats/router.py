"""HTTP surface of stats: POST /v1/query and the reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from services.api.keys.dependencies import (
    KEY_ERRORS,
    SiteDefinitionsWriteKey,
    SiteStatsKey,
    StatsKey,
    check_own_site,
)
from services.api.stats.query import answer_query
from services.api.stats.realtime import MAX_ROWS, RealtimeOut, realtime
from services.api.stats.reports import after_the_click, funnel, retention
from services.api.stats.schemas import (
    AfterTheClickIn,
    AfterTheClickOut,
    FunnelIn,
    FunnelOut,
    QueryIn,
    QueryOut,
    RetentionIn,
    RetentionOut,
    SegmentIn,
    SegmentList,
    SegmentOut,
)
from services.api.stats.segments import (
    create_segment,
    delete_segment,
    get_segment,
    list_segments,
    replace_segment,
)
from shared.errors import problem_responses
from shared.runtime import ResourcesDep
from shared.storable import IdPath

router = APIRouter(
    prefix="/v1", tags=["stats"]
)  # composed with the other domains by services.api.router


@router.post(
    "/query",
    summary="Aggregate metrics for one site and date range, by dimensions, filtered",
    description="Plausible Stats API v2's metrics, dimensions, filters, relative date ranges "
    "and comparisons, under the names the README maps. k-anonymity guards the "
    "quasi-identifiers (where: country, region, city; which device: device, browser, OS and "
    "versions; where from: referrer, source, medium, channel, UTM fields, props). In a "
    "breakdown by one, rows with fewer than k distinct engaged visitors fold into one (other) "
    "row; in a query that "
    "touches one, filters that select, or leave out, fewer than k visitors are refused (422 "
    "k-anonymity). Totals, time series and breakdowns by page, entry / exit page, goal, "
    "hostname or event are always answered. `meta.notes` says what was folded.",
    responses=problem_responses(*KEY_ERRORS, 404, 422, 503),
)
async def query(body: QueryIn, key: StatsKey, resources: ResourcesDep) -> QueryOut:
    check_own_site(key, body.site_id)
    return await answer_query(
        engine=resources.engine, query=body, timeout_s=resources.settings.query_timeout_s
    )


@router.post(
    "/reports/after-the-click",
    summary="Per source or campaign: sessions, engagement, goals, returns, outcomes",
    description="Rows (sources, campaigns) counting fewer than k distinct engaged visitors "
    "fold into one (other) row (`notes` says what was folded); optional filters are the "
    "filter tree of POST /v1/query, refused as there (422 k-anonymity).",
    responses=problem_responses(*KEY_ERRORS, 404, 422, 503),
)
async def after_the_click_report(
    body: AfterTheClickIn, key: StatsKey, resources: ResourcesDep
) -> AfterTheClickOut:
    check_own_site(key, body.site_id)
    return await after_the_click(
        engine=resources.engine, report=body, timeout_s=resources.settings.query_timeout_s
    )


@router.post(
    "/reports/funnel",
    summary="Ordered steps (pages or goals) within a session: counts and drop-off per step",
    description="Steps (pages, goals) are counted whole. Optional filters are the filter "
    "tree of POST /v1/query, tested on each step's events; filters on a quasi-identifier "
    "that select, or leave out, fewer than k visitors are refused (422 k-anonymity).",
    responses=problem_responses(*KEY_ERRORS, 404, 422, 503),
)
async def funnel_report(body: FunnelIn, key: StatsKey, resources: ResourcesDep) -> FunnelOut:
    check_own_site(key, body.site_id)
    return await funnel(
        engine=resources.engine, report=body, timeout_s=resources.settings.query_timeout_s
    )


@router.post(
    "/reports/retention",
    summary="Weekly cohorts of tier-1 visitors and how many came back each week",
    responses=problem_responses(*KEY_ERRORS, 404, 422, 503),
)
async def retention_report(
    body: RetentionIn, key: StatsKey, resources: ResourcesDep
) -> RetentionOut:
    check_own_site(key, body.site_id)
    return await retention(
        engine=resources.engine, report=body, timeout_s=resources.settings.query_timeout_s
    )


# --- segments: reading needs stats:read; writing, like goals and definitions, needs
# definitions:write (a saved segment is what dashboards and reports are read through) ---

SEGMENTS = "/sites/{site_id}/segments"
SegmentId = IdPath


@router.get(
    SEGMENTS,
    tags=["segments"],
    operation_id="listSegments",
    summary="The site's saved segments",
    responses=problem_responses(*KEY_ERRORS, 422),
)
async def segments(key: SiteStatsKey, resources: ResourcesDep) -> SegmentList:
    return SegmentList(segments=await list_segments(engine=resources.engine, site_id=key.site_id))


@router.post(
    SEGMENTS,
    tags=["segments"],
    operation_id="createSegment",
    summary="Save a named filter tree; queries use it as {dimension: segment, values: [id]}",
    status_code=201,
    responses=problem_responses(*KEY_ERRORS, 409, 422),
)
async def add_segment(
    body: SegmentIn, key: SiteDefinitionsWriteKey, resources: ResourcesDep
) -> SegmentOut:
    return await create_segment(engine=resources.engine, site_id=key.site_id, body=body)


@router.get(
    SEGMENTS + "/{segment_id}",
    tags=["segments"],
    operation_id="getSegment",
    summary="One saved segment",
    responses=problem_responses(*KEY_ERRORS, 404, 422),
)
async def segment(key: SiteStatsKey, segment_id: SegmentId, resources: ResourcesDep) -> SegmentOut:
    return await get_segment(engine=resources.engine, site_id=key.site_id, segment_id=segment_id)


@router.put(
    SEGMENTS + "/{segment_id}",
    tags=["segments"],
    operation_id="updateSegment",
    summary="Rename a segment or change its filters (queries naming it follow)",
    responses=problem_responses(*KEY_ERRORS, 404, 409, 422),
)
async def change_segment(
    body: SegmentIn, key: SiteDefinitionsWriteKey, segment_id: SegmentId, resources: ResourcesDep
) -> SegmentOut:
    return await replace_segment(
        engine=resources.engine, site_id=key.site_id, segment_id=segment_id, body=body
    )


@router.delete(
    SEGMENTS + "/{segment_id}",
    tags=["segments"],
    operation_id="deleteSegment",
    summary="Delete a segment (queries naming it are refused from then on)",
    status_code=204,
    responses=problem_responses(*KEY_ERRORS, 404, 422),
)
async def remove_segment(
    key: SiteDefinitionsWriteKey, segment_id: SegmentId, resources: ResourcesDep
) -> Response:
    await delete_segment(engine=resources.engine, site_id=key.site_id, segment_id=segment_id)
    return Response(status_code=204)


@router.get(
    "/sites/{site_id}/realtime",
    tags=["realtime"],
    operation_id="getRealtime",
    summary="Visitors in the last 5 minutes; the last 30 minutes' pages and sources",
    description="Read from the raw events. Sources are a quasi-identifier: those with fewer "
    "than k engaged visitors fold into (other) as in POST /v1/query (`notes` says so); "
    "pages are answered whole.",
    responses=problem_responses(*KEY_ERRORS, 422, 503),
)
async def realtime_view(
    key: SiteStatsKey,
    resources: ResourcesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS, description="rows per list")] = 10,
) -> RealtimeOut:
    return await realtime(
        engine=resources.engine,
        site_id=key.site_id,
        limit=limit,
        timeout_s=resources.settings.query_timeout_s,
    )
