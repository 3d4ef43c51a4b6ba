"""HTTP surface of engagement definitions: read one version, store the next."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.api.engagement.schemas import MAX_VERSION, Definition, DefinitionIn
from services.api.engagement.service import resolve_definition, store_definition
from services.api.keys.dependencies import (
    KEY_ERRORS,
    DefinitionsWriteKey,
    StatsKey,
    check_own_site,
)
from shared.errors import problem_responses
from shared.runtime import ResourcesDep

router = APIRouter(
    prefix="/v1", tags=["definitions"]
)  # composed with the other domains by services.api.router


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
        int | None, Query(ge=0, le=MAX_VERSION, description="a stored version; latest if absent")
    ] = None,
) -> Definition:
    check_own_site(key, site_id)
    return await resolve_definition(engine=resources.engine, site_id=site_id, version=version)


@router.put(
    "/sites/{site_id}/definitions",
    summary="Store a new version of the site's engagement definition",
    responses=problem_responses(*KEY_ERRORS, 409, 422),
)
async def put_definition(
    site_id: str, body: DefinitionIn, key: DefinitionsWriteKey, resources: ResourcesDep
) -> Definition:
    check_own_site(key, site_id)
    return await store_definition(engine=resources.engine, site_id=site_id, body=body)
