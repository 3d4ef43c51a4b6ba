"""Route of decisions: give, refuse or withdraw consent, purpose by purpose."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from services.consent.decisions.rule import ShownText
from services.consent.decisions.schemas import DecisionIn, DecisionOut, decision_in_adapter
from services.consent.decisions.service import record_decisions
from services.consent.dependencies import GpcDep, SiteDep
from services.consent.exceptions import BadBody, ConsentProblem
from services.consent.http import CORS, SITE
from services.consent.ledger.service import Method
from services.consent.notices.service import current_version
from services.consent.state.schemas import state_out
from services.consent.subjects.exceptions import InvalidSubject
from services.consent.subjects.service import authenticate_subject, create_subject
from shared.docs import inline_body_schema
from shared.errors import field_errors, problem_responses
from shared.runtime import ResourcesDep

router = APIRouter()

MAX_BODY = 16 * 1024


async def read_json(request: Request) -> object:
    """A JSON body sent as application/json or text/plain (the widget avoids a preflight)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in ("application/json", "text/plain", ""):
        raise ConsentProblem(
            415,
            "Unsupported media type",
            slug="unsupported-media-type",
            detail="Send JSON as application/json or text/plain.",
        )
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ConsentProblem(413, "Body too large", slug="payload-too-large")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadBody("The body is not JSON.") from None


@router.post(
    SITE + "/decisions",
    summary="Give, refuse or withdraw consent, purpose by purpose",
    description="Without a subject credential a new subject is made: 201, with its "
    "`credential` (shown once); with one, that subject's choices change: 200.",
    responses={
        201: {"model": DecisionOut, "description": "A new subject, with its credential"},
        **problem_responses(400, 401, 404, 409, 413, 415, 422),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": inline_body_schema(DecisionIn)},
                "text/plain": {"schema": inline_body_schema(DecisionIn)},
            },
        }
    },
)
async def decide(
    request: Request,
    site: SiteDep,
    resources: ResourcesDep,
    response: Response,
    gpc: GpcDep,
) -> DecisionOut:
    response.headers.update(CORS)
    try:
        body = decision_in_adapter.validate_python(await read_json(request))
    except ValidationError as exc:
        raise ConsentProblem(
            422,
            "Request validation failed",
            slug="validation-error",
            errors=field_errors(list(exc.errors())),
        ) from None
    authorization = request.headers.get("authorization", "")
    credential = body.credential or (
        authorization[7:] if authorization.lower().startswith("bearer ") else None
    )
    new_credential = None
    if credential:
        subject_id = await authenticate_subject(
            engine=resources.engine, site_id=site.id, credential=credential
        )
        if subject_id is None:
            raise InvalidSubject()
    else:
        made = await create_subject(engine=resources.engine, site_id=site.id)
        subject_id, new_credential = made.subject_id, made.credential
    decision = await record_decisions(
        resources=resources,
        site=site,
        subject_id=subject_id,
        choices=body.choices,
        method=Method(body.method),
        jurisdiction=body.jurisdiction,
        gpc=gpc,
        shown=(
            ShownText(body.source, body.notice_sha256)
            if body.source is not None and body.notice_sha256 is not None
            else None
        ),
        seen=body.shown,
    )
    notice_version = await current_version(engine=resources.engine, site_id=site.id)
    state = state_out(subject_id, notice_version, decision.states)
    if new_credential:
        response.status_code = 201
    return DecisionOut(
        **state.model_dump(),
        credential=new_credential,
        receipt=decision.receipt,
        token=decision.token,
    )
