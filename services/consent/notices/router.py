"""Routes of purposes and notices: what the site asks now, and any version as it was shown."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam

from services.consent.dependencies import SiteDep
from services.consent.http import CORS, SITE
from services.consent.languages import spoken_language
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
async def purposes(
    site: SiteDep,
    resources: ResourcesDep,
    response: Response,
    lang: Annotated[
        str | None,
        Query(max_length=35, description="the page's language (BCP 47; its first subtag counts)"),
    ] = None,
) -> PurposesOut:
    response.headers.update(CORS)
    notice = await get_notice(engine=resources.engine, site_id=site.id)
    spoken = spoken_language(lang)
    return PurposesOut(
        site_id=site.id,
        notice_version=notice.version,
        purposes=[PurposeOut(**p.public()) for p in notice.purposes],
        controller=site.settings.controller or site.domain,
        privacy_url=site.settings.privacy_url,
        lang=spoken,
        strings=site.settings.widget_strings.get(spoken, {}),
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
