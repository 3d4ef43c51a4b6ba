"""HTTP surface of the API for marketing tools."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.api.engagement.service import (
    Definition,
    DefinitionIn,
    UnknownDefinitionVersion,
    current_definition,
    definition_at,
    store_definition,
)
from services.api.keys.dependencies import KEY_ERRORS, DefinitionsWriteKey, StatsKey
from services.api.keys.exceptions import OtherSite
from services.api.keys.service import ApiKey
from services.api.people.router import router as people_router
from services.api.stats.query import answer_query
from services.api.stats.reports import (
    AfterTheClickIn,
    AfterTheClickOut,
    FunnelIn,
    FunnelOut,
    RetentionIn,
    RetentionOut,
    after_the_click,
    funnel,
    retention,
)
from services.api.stats.schemas import QueryIn, QueryOut
from shared.errors import problem_responses
from shared.runtime import ResourcesDep

router = APIRouter(prefix="/v1", tags=["api"])


@router.post(
    "/query",
    summary="Aggregate metrics for one site and date range, by dimensions, filtered",
    description="Rows counting fewer than k distinct visitors fold into one (other) row; "
    "filters that select, or leave out, fewer than k visitors are refused (422 k-anonymity).",
    responses=problem_responses(*KEY_ERRORS, 404, 422),
)
async def query(body: QueryIn, key: StatsKey, resources: ResourcesDep) -> QueryOut:
    _own_site(body.site_id, key)
    return await answer_query(engine=resources.engine, query=body)


def _own_site(site_id: str, key: ApiKey) -> None:
    if site_id != key.site_id:
        raise OtherSite()


@router.get(
    "/sites/{site_id}/definitions",
    summary="The site's engagement definition (latest, or one version)",
    responses=problem_responses(*KEY_ERRORS, 404, 422),
)
async def get_definition(
    site_id: str,
    key: StatsKey,
    resources: ResourcesDep,
    version: Annotated[
        int | None, Query(ge=0, description="a stored version; latest if absent")
    ] = None,
) -> Definition:
    _own_site(site_id, key)
    if version is None:
        return await current_definition(resources.engine, site_id)
    found = await definition_at(resources.engine, site_id, version)
    if found is None:
        raise UnknownDefinitionVersion(version)
    return found


@router.put(
    "/sites/{site_id}/definitions",
    summary="Store a new version of the site's engagement definition",
    responses=problem_responses(*KEY_ERRORS, 409, 422),
)
async def put_definition(
    site_id: str, body: DefinitionIn, key: DefinitionsWriteKey, resources: ResourcesDep
) -> Definition:
    _own_site(site_id, key)
    return await store_definition(engine=resources.engine, site_id=site_id, body=body)


@router.post(
    "/reports/after-the-click",
    summary="Per source or campaign: sessions, engagement, goals, returns, outcomes",
    description="Rows counting fewer than k distinct visitors fold into one (other) row; "
    "optional filters are the filter tree of POST /v1/query, and filters that select, or "
    "leave out, fewer than k visitors are refused (422 k-anonymity).",
    responses=problem_responses(*KEY_ERRORS, 404, 422),
)
async def after_the_click_report(
    body: AfterTheClickIn, key: StatsKey, resources: ResourcesDep
) -> AfterTheClickOut:
    _own_site(body.site_id, key)
    return await after_the_click(engine=resources.engine, report=body)


@router.post(
    "/reports/funnel",
    summary="Ordered steps (pages or goals) within a session: counts and drop-off per step",
    description="Steps counting fewer than k distinct visitors are reported as null "
    "(`suppressed`). Optional filters are the filter tree of POST /v1/query, tested on each "
    "step's events; filters that select, or leave out, fewer than k visitors are refused "
    "(422 k-anonymity).",
    responses=problem_responses(*KEY_ERRORS, 404, 422),
)
async def funnel_report(body: FunnelIn, key: StatsKey, resources: ResourcesDep) -> FunnelOut:
    _own_site(body.site_id, key)
    return await funnel(engine=resources.engine, report=body)


@router.post(
    "/reports/retention",
    summary="Weekly cohorts of tier-1 visitors and how many came back each week",
    responses=problem_responses(*KEY_ERRORS, 404, 422),
)
async def retention_report(
    body: RetentionIn, key: StatsKey, resources: ResourcesDep
) -> RetentionOut:
    _own_site(body.site_id, key)
    return await retention(engine=resources.engine, report=body)


router.include_router(people_router)
