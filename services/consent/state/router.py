"""Route of a subject's consent state."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.consent.dependencies import SubjectDep
from services.consent.http import CORS, SITE
from services.consent.notices.service import current_version
from services.consent.state.schemas import StateOut, state_out
from services.consent.state.service import consent_state
from shared.errors import problem_responses
from shared.runtime import ResourcesDep

router = APIRouter()


@router.get(
    SITE + "/state",
    summary="The subject's current choices",
    responses=problem_responses(401, 404),
)
async def state(subject: SubjectDep, resources: ResourcesDep, response: Response) -> StateOut:
    response.headers.update(CORS)
    states = await consent_state(
        engine=resources.engine, site_id=subject.site.id, subject_id=subject.subject_id
    )
    version = await current_version(engine=resources.engine, site_id=subject.site.id)
    return state_out(subject.subject_id, version, states)
