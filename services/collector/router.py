"""HTTP surface of the collector: the snippet and event intake.

`/e` is the hot path. `EventIntakeMiddleware` answers it in front of the framework (no
routing, no framework middleware, no dependency injection: in a py-spy profile those layers
cost more than the work itself); the FastAPI route below documents it in OpenAPI and serves
the same core (`Intake.take`) when the front layer is not installed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.collector import plausible
from services.collector.dependencies import IngestKey, get_intake, intake_for
from services.collector.exceptions import BodyTooLarge
from services.collector.schemas import body_schema
from services.collector.service import Backend, ClientFacts, Intake, client_facts
from shared.assets import Asset, asset_response
from shared.clients import choose_client_ip
from shared.errors import (
    ProblemError,
    problem_error_response,
    problem_responses,
    unexpected_error_response,
)
from shared.logging import log_answer, logs_every_answer, new_request_id, request_id_var
from shared.metrics import INTAKE_REJECTED, INTAKE_SECONDS
from shared.settings import Settings

SNIPPET = Asset.file(Path(__file__).parent / "static" / "overt.js", "text/javascript")
CORS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "content-type",
    "Access-Control-Max-Age": "86400",
}

router = APIRouter(tags=["collector"])


@router.get(
    "/overt.js",
    summary="The tracking snippet",
    response_class=Response,
    responses={200: {"content": {"text/javascript": {"schema": {"type": "string"}}}}},
)
async def snippet(request: Request) -> Response:
    return asset_response(
        request,
        SNIPPET,
        headers={
            "Cross-Origin-Resource-Policy": "cross-origin",
            "X-Content-Type-Options": "nosniff",
            **CORS,
        },
    )


@dataclass(frozen=True, slots=True)
class TrustedHeaders:
    """The trusted proxy's header names from the settings (lowercase, as ASGI gives them),
    read once: a pydantic setting costs an attribute hook on every read, and /e would read
    these on every request."""

    client_ip: bytes | None  # OVERT_CLIENT_IP_HEADER
    country: bytes | None  # OVERT_COUNTRY_HEADER

    @classmethod
    def of(cls, settings: Settings) -> TrustedHeaders:
        ip, country = settings.client_ip_header, settings.country_header
        return cls(
            client_ip=ip.lower().encode() if ip else None,
            country=country.lower().encode() if country else None,
        )


def request_facts(
    headers: dict[bytes, bytes], client: str, trusted: TrustedHeaders
) -> tuple[ClientFacts, str]:
    """What intake reads from the request besides the body: the header-derived facts and
    the IP (shared.clients' rule: from a trusted proxy's header if configured)."""
    forwarded = headers.get(trusted.client_ip) if trusted.client_ip else None
    ip = choose_client_ip(forwarded.decode("latin-1"), client) if forwarded else client
    facts = client_facts(
        headers.get(b"content-type", b""),
        headers.get(b"origin"),
        headers.get(b"user-agent", b""),
        headers.get(b"sec-gpc"),
        headers.get(trusted.country) if trusted.country else None,
    )
    return facts, ip


@router.post(
    "/e",
    summary="Take one event or a batch from the snippet (wire format v1)",
    status_code=202,
    response_class=Response,
    responses={
        202: {
            "description": "Taken (no body): the events are queued for ingestion",
            "headers": {"Access-Control-Allow-Origin": {"schema": {"type": "string"}}},
        },
        **problem_responses(400, 403, 413, 415, 422, 429, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/plain": {"schema": body_schema()},
                "application/json": {"schema": body_schema()},
            },
        }
    },
)
async def take_events(request: Request, intake: Annotated[Intake, Depends(get_intake)]) -> Response:
    settings: Settings = request.app.state.resources.settings
    headers = dict(request.scope["headers"])
    try:
        body = await read_limited_body(headers, request.receive, settings.max_body_bytes)
        client = request.scope.get("client")
        facts, ip = request_facts(headers, client[0] if client else "", TrustedHeaders.of(settings))
        await intake.take(body, facts, ip)
    except ProblemError as problem:
        count_rejection(problem)
        raise
    return Response(status_code=202, headers=CORS)


@router.post(
    "/api/event",
    summary="Take Plausible's events, and server-side events from backends with an ingest key",
    description=(
        "Plausible-compatible: what Plausible's tracker script and its npm package send "
        "(short keys), and Plausible's Events API (long keys); the site is found by its "
        "domain. Without a key, /e's rules apply (Origin checked, bots dropped, limits). "
        "With an ingest key (`Authorization: Bearer`, scope events:write) a backend sends "
        "one event or a batch of up to 50 for its site, with each visitor's IP and "
        "User-Agent (headers X-Forwarded-For and User-Agent, or fields `ip` and "
        "`user_agent`) or an `analytics_id`, and an optional `id` so a retry is stored "
        "once. Answers 202 `ok`, as Plausible does. See services/collector/WIRE.md."
    ),
    status_code=202,
    response_class=PlainTextResponse,
    responses={
        202: {"content": {"text/plain": {"example": "ok"}}},
        **problem_responses(400, 401, 403, 413, 415, 422, 429, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/plain": {"schema": plausible.body_schema()},
                "application/json": {"schema": plausible.body_schema()},
            },
        },
        # The key is optional: browsers send none (appended to the IngestKey requirement).
        "security": [{}],
    },
)
async def take_plausible_events(
    request: Request, key: IngestKey, intake: Annotated[Intake, Depends(get_intake)]
) -> PlainTextResponse:
    settings: Settings = request.app.state.resources.settings
    headers = dict(request.scope["headers"])
    backend = None
    if key is not None:
        forwarded = headers.get(b"x-forwarded-for")
        backend = Backend(
            key=key,
            forwarded_for=(
                forwarded.decode("latin-1").split(",", 1)[0].strip() or None if forwarded else None
            ),
            user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
        )
    try:
        body = await read_limited_body(headers, request.receive, settings.max_body_bytes)
        client = request.scope.get("client")
        facts, ip = request_facts(headers, client[0] if client else "", TrustedHeaders.of(settings))
        await intake.take_plausible(body, facts, ip, backend)
    except ProblemError as problem:
        count_rejection(problem)
        raise
    return PlainTextResponse("ok", status_code=202, headers=CORS)


@router.options("/api/event", include_in_schema=False)
async def plausible_preflight() -> Response:
    return Response(status_code=204, headers=PREFLIGHT)


def count_rejection(problem: ProblemError) -> None:
    """One refused body, labelled by its problem type's slug (a fixed, non-personal set)."""
    INTAKE_REJECTED.labels(problem.type.rsplit("/", 1)[-1]).inc()


class EventIntakeMiddleware:
    """Answers POST and OPTIONS /e directly; everything else goes to the app.

    A front layer (see shared.app.asgi_app): it runs before the framework and before the
    request-id middleware, so it gives its answers their X-Request-ID itself, logs its
    refusals, and turns an unexpected exception into a logged, id-tagged problem 500.
    """

    def __init__(self, app: ASGIApp, owner: Any) -> None:
        self.app = app
        self.owner = owner  # the FastAPI app whose state holds the resources
        # Read from its state once: the intake, the body limit and the trusted headers.
        self._ready: tuple[Intake, int, TrustedHeaders] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != "/e"
            or scope["method"]
            not in (
                "POST",
                "OPTIONS",
            )
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        tag = (b"x-request-id", new_request_id(headers.get(b"x-request-id")))
        if scope["method"] == "OPTIONS":
            await _respond(send, 204, [*PREFLIGHT_HEADERS, tag])
            return
        began = time.perf_counter()
        try:
            # Inline, not a method: a coroutine call per request is worth avoiding here.
            if self._ready is None:
                settings = self.owner.state.resources.settings
                self._ready = (
                    intake_for(self.owner),
                    settings.max_body_bytes,
                    TrustedHeaders.of(settings),
                )
            intake, limit, trusted = self._ready
            # read_limited_body's steps inline for the common body, one message: a
            # coroutine call less per request.
            if declared_too_large(headers, limit):
                raise BodyTooLarge(limit)
            message = await receive()
            body = message.get("body", b"")
            if len(body) > limit:
                raise BodyTooLarge(limit)
            if message.get("more_body", False):
                body = await read_more(body, receive, limit)
            client = scope.get("client")
            facts, ip = request_facts(headers, client[0] if client else "", trusted)
            await intake.take(body, facts, ip)  # not take(body, *...): a slower call
        except ProblemError as problem:
            request_id = tag[1].decode()
            request_id_var.set(request_id)  # this task's context: log lines carry the id
            count_rejection(problem)
            answer = problem_error_response(
                problem, instance="/e", headers={**CORS, "X-Request-ID": request_id}
            )
        except Exception as exc:
            request_id = tag[1].decode()
            request_id_var.set(request_id)
            answer = unexpected_error_response("POST", "/e", exc)
            answer.headers["X-Request-ID"] = request_id
        else:
            await send(
                {"type": "http.response.start", "status": 202, "headers": [*ACCEPTED_HEADERS, tag]}
            )
            await send(EMPTY_BODY)
            INTAKE_SECONDS.observe(time.perf_counter() - began)
            if logs_every_answer():
                request_id_var.set(tag[1].decode())
                log_answer("POST", "/e", 202, began)
            return
        await answer(scope, receive, send)
        INTAKE_SECONDS.observe(time.perf_counter() - began)
        log_answer("POST", "/e", answer.status_code, began)


async def read_limited_body(headers: dict[bytes, bytes], receive: Receive, limit: int) -> bytes:
    """The body, refusing a declared or streamed length over `limit` before reading it all.

    Its time is bounded by the server (shared/server.py): 408 and the connection closed."""
    if declared_too_large(headers, limit):
        raise BodyTooLarge(limit)
    return await read_more(b"", receive, limit)


def declared_too_large(headers: dict[bytes, bytes], limit: int) -> bool:
    """Content-Length says more than `limit`, or is not a length."""
    declared = headers.get(b"content-length")
    return declared is not None and (not declared.isdigit() or int(declared) > limit)


async def read_more(body: bytes, receive: Receive, limit: int) -> bytes:
    """`body` and the messages still to come (a disconnect ends it: no body, no more)."""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > limit:
            raise BodyTooLarge(limit)
        if not message.get("more_body", False):
            return body


def _raw_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()] + [
        (b"content-length", b"0")
    ]


ACCEPTED_HEADERS = _raw_headers(CORS)
PREFLIGHT_HEADERS = _raw_headers(PREFLIGHT)


EMPTY_BODY = {"type": "http.response.body", "body": b""}  # read, never changed, by servers


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    """An empty response with these headers (a list of the caller's own: it may be changed)."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send(EMPTY_BODY)
