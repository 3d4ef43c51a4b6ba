"""HTTP surface of stats: POST /v1/query and the reports."""

from __future__ import annotations

from fastapi import APIRouter

from services.api.keys.dependencies import KEY_ERRORS, StatsKey, check_own_site
from services.api.stats.query import answer_query
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
)
from shared.errors import problem_responses
from shared.runtime import ResourcesDep

router = APIRouter(
    prefix="/v1", tags=["stats"]
)  # composed with the other domains by services.api.router


@router.post(
    "/query",
    summary="Aggregate metrics for one site and date range, by dimensions, filtered",
    description="Plausible Stats API v2's metrics, dimensions, filters, relative date ranges "
    "and comparisons, under the names the README maps. k-anonymity guards the "
    "quasi-identifiers (where: country; which device: device, browser, OS and versions; where "
    "from: referrer, source, medium, channel, UTM fields, props). In a breakdown by one, rows "
    "with fewer than k distinct engaged visitors fold into one (other) row; in a query that "
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
