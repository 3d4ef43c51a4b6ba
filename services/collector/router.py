"""HTTP surface of the collector: the snippet and event intake."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from services.collector.dependencies import get_intake
from services.collector.exceptions import BadJson, BodyTooLarge, QueueBusy, UnsupportedMediaType
from services.collector.schemas import EventIn, event_in_adapter
from services.collector.service import Intake
from shared.errors import ProblemError, field_errors, problem_responses
from shared.queue import QueueUnavailable

SNIPPET = (Path(__file__).parent / "static" / "overt.js").read_bytes()
ACCEPTED_TYPES = ("text/plain", "application/json", "")

router = APIRouter(tags=["collector"])


@router.get("/overt.js", summary="The tracking snippet", response_class=Response)
async def snippet() -> Response:
    return Response(
        SNIPPET,
        media_type="text/javascript",
        headers={
            "Cache-Control": "public, max-age=3600",
            "Access-Control-Allow-Origin": "*",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than `limit` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)


@router.post(
    "/e",
    summary="Take one event from the snippet",
    status_code=202,
    response_class=Response,
    responses=problem_responses(400, 403, 413, 415, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/plain": {"schema": EventIn.model_json_schema(by_alias=True)},
                "application/json": {"schema": EventIn.model_json_schema(by_alias=True)},
            },
        }
    },
)
async def take_event(request: Request, intake: Annotated[Intake, Depends(get_intake)]) -> Response:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in ACCEPTED_TYPES:
        raise UnsupportedMediaType()
    body = await read_limited_body(request, request.app.state.resources.settings.max_body_bytes)
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadJson() from None
    try:
        event = event_in_adapter.validate_python(raw)
    except ValidationError as exc:
        raise ProblemError(
            422,
            "Invalid event",
            slug="invalid-event",
            detail="The event does not match the documented schema.",
            errors=field_errors(list(exc.errors())),
        ) from None
    client = request.scope.get("client")
    try:
        await intake.accept(
            event,
            origin=request.headers.get("origin"),
            ip=client[0] if client else "",
            user_agent=request.headers.get("user-agent", ""),
        )
    except QueueUnavailable:
        raise QueueBusy() from None
    return Response(status_code=202, headers={"Access-Control-Allow-Origin": "*"})
