"""HTTP surface of the API for marketing tools."""

from __future__ import annotations

from fastapi import APIRouter

from services.api.dependencies import StatsKey
from services.api.exceptions import OtherSite
from services.api.schemas import QueryIn, QueryMeta, QueryOut, QueryRow
from services.api.service import run_query, site_timezone
from shared.errors import problem_responses
from shared.runtime import ResourcesDep

router = APIRouter(prefix="/v1", tags=["api"])


@router.post(
    "/query",
    summary="Aggregate metrics for one site and date range",
    responses=problem_responses(401, 403, 422),
)
async def query(body: QueryIn, key: StatsKey, resources: ResourcesDep) -> QueryOut:
    if body.site_id != key.site_id:
        raise OtherSite()
    timezone = await site_timezone(engine=resources.engine, site_id=key.site_id)
    values = await run_query(engine=resources.engine, query=body, timezone=timezone)
    return QueryOut(
        results=[QueryRow(metrics=values, dimensions=[])],
        meta=QueryMeta(timezone=timezone),
        query=body,
    )
