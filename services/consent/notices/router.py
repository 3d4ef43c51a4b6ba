"""Routes of purposes and notices: what the site asks now, and any version as it was shown."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from fastapi import Path as PathParam

from services.consent.dependencies import SiteDep
from services.consent.http import CORS, SITE
from services.consent.notices.schemas import NoticeOut, PurposeOut, PurposesOut
from services.consent.notices.service import get_notice
from shared.errors import problem_responses
from shared.runtime import ResourcesDep

router = APIRouter()


@router.get(
    SITE + "/purposes",
    summary="What the site asks consent for, in the current notice",
    responses=problem_responses(404),
)
async def purposes(site: SiteDep, resources: ResourcesDep, response: Response) -> PurposesOut:
    response.headers.update(CORS)
    notice = await get_notice(engine=resources.engine, site_id=site.id)
    return PurposesOut(
        site_id=site.id,
        notice_version=notice.version,
        purposes=[PurposeOut(**p.public()) for p in notice.purposes],
    )


@router.get(
    SITE + "/notices/{version}",
    summary="One version of the site's notice, as it was shown",
    responses=problem_responses(404),
)
async def notice(
    site: SiteDep,
    version: Annotated[int, PathParam(ge=1, le=2**31 - 1)],  # the column is a 32-bit integer
    resources: ResourcesDep,
    response: Response,
) -> NoticeOut:
    response.headers.update(CORS)
    shown = await get_notice(engine=resources.engine, site_id=site.id, version=version)
    return NoticeOut(
        site_id=site.id,
        notice_version=shown.version,
        purposes=[PurposeOut(**p.public()) for p in shown.purposes],
    )
