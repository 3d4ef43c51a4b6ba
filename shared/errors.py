"""RFC 9457 problem details for every error of every service, from one installer."""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
import redis.exceptions
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://overt.dev/problems/"

log = logging.getLogger("overt.errors")


# Every problem type Overt answers (the slug after PROBLEM_BASE), with what it means; the
# OpenAPI document lists them under the Problem schema, and a test holds this table to the
# slugs the code raises.
PROBLEM_TYPES: dict[str, str] = {
    "bad-request": "The request could not be read (for example a body that does not parse).",
    "malformed-json": "The body is not valid UTF-8 JSON.",
    "bad-body": "The body is not what this operation takes.",
    "validation-error": "A field is missing or invalid; `errors` lists each one.",
    "invalid-event": "An event failed validation; nothing of the batch was queued.",
    "unauthorized": "Authentication is missing or wrong.",
    "api-key-required": "No API key: send `Authorization: Bearer KEY`.",
    "invalid-api-key": "The API key is unknown, revoked or expired.",
    "forbidden": "Not allowed.",
    "missing-scope": "The API key lacks the scope this operation needs.",
    "wrong-site": "The API key belongs to another site.",
    "wrong-origin": "The event's Origin is not one of the site's hosts.",
    "not-found": "No such resource.",
    "bad-dashboard-state": "The dashboard address names no real period, filter or view.",
    "unknown-site": "No site is registered with this id.",
    "goal-not-found": "The site has no such goal.",
    "segment-not-found": "The site has no such segment.",
    "unknown-segment": "A filter names a segment the site does not have.",
    "unknown-definition-version": "The site has no engagement definition of this version.",
    "contact-not-found": "No consented contact with this subject id.",
    "webhook-not-found": "The site has no such webhook subscription.",
    "unknown-purpose": "The site has no consent purpose of this name.",
    "unknown-cmp": "No glue for this consent manager.",
    "unknown-language": "The widget has no words in this language.",
    "method-not-allowed": "The path does not take this method; `Allow` lists those it does.",
    "request-timeout": "The request's head or body arrived too slowly.",
    "payload-too-large": "The body is larger than the limit.",
    "unsupported-media-type": "The body's Content-Type is not one this operation takes.",
    "goal-name-taken": "The site already has a goal of this name.",
    "too-many-goals": "The site has as many goals as it may have.",
    "segment-name-taken": "The site already has a segment of this name.",
    "too-many-segments": "The site has as many segments as it may have.",
    "segments-too-large": "The filters with their segments expanded are too large.",
    "definition-conflict": "The engagement definition changed since the version given.",
    "outcome-id-reused": "This outcome id was used for another outcome.",
    "no-identification-consent": "The subject has not given identification consent.",
    "export-not-ready": "The export has not finished yet.",
    "bad-import": "The upload is not a readable Plausible or Umami export.",
    "k-anonymity": "The answer would single out fewer than k visitors.",
    "bad-filter": "A filter was refused by the database.",
    "mixed-currencies": "Revenue in several currencies cannot be added up.",
    "webhook-target-refused": "The webhook URL is not one Overt will call.",
    "gpc-opt-out": "The browser sent Global Privacy Control: an opt-out of this.",
    "consent-required": "This needs a consent the visitor has not given.",
    "subject-required": "A subject credential is required.",
    "invalid-subject": "The subject credential is unknown or does not match.",
    "notice-changed": "The notice changed since the page was shown; ask again.",
    "consent-token-malformed": "The consent token cannot be read.",
    "consent-token-signature": "The consent token's signature does not verify.",
    "consent-token-expired": "The consent token has expired.",
    "consent-token-site": "The consent token is for another site.",
    "consent-token-purpose": "The consent token does not cover this purpose.",
    "consent-token-revoked": "Consent was withdrawn since the token was issued.",
    "invalid-assertion": "The identity assertion's signature or time does not verify.",
    "invalid-email": "Not an e-mail address.",
    "verification-link": "The verification link is invalid or expired.",
    "csrf": "The form's check value is missing or wrong.",
    "login-required": "The web app's page needs a signed-in user (a redirect to /app/login).",
    "role-required": "The web app's page needs a higher role on the site than the user's.",
    "cross-site-session": "The request does not come from this site.",
    "too-many-requests": "Too many requests; `Retry-After` says when to try again.",
    "rate-limited": "Too many requests; `Retry-After` says when to try again.",
    "query-timeout": "The query took longer than the limit.",
    "metrics-token-required": "/metrics needs the metrics token.",
    "metrics-not-local": "/metrics answers loopback only unless a metrics token is set.",
    "not-ready": "A dependency (database, Redis) is not reachable.",
    "queue-unavailable": "The event queue cannot take events now; nothing was queued.",
    "revocation-unavailable": "A withdrawal cannot be published now; nothing was recorded.",
    "unavailable": "A dependency is not reachable; try again.",
    "internal": "An unexpected error; the log has it under the request id.",
    "http-error": "Another HTTP error; `status` says which.",
}

# The problem an operation's documented status shows as its example (an operation with
# its own example of that status shows its own).
EXAMPLE_PROBLEMS: dict[int, tuple[str, str, str | None]] = {
    400: ("malformed-json", "Malformed JSON", "The body is not valid UTF-8 JSON."),
    401: ("api-key-required", "API key required", "Send Authorization: Bearer KEY."),
    403: ("missing-scope", "Scope missing", "This key lacks the stats:read scope."),
    404: ("not-found", "Not Found", "No such resource."),
    409: ("definition-conflict", "Definition changed concurrently", None),
    413: ("payload-too-large", "Payload too large", "The body is larger than 65536 bytes."),
    415: ("unsupported-media-type", "Unsupported media type", "Send application/json."),
    429: ("rate-limited", "Rate limit exceeded", "Try again in 12 seconds."),
    500: ("internal", "Internal Server Error", None),
    503: ("unavailable", "Service Unavailable", "A dependency is not reachable; try again."),
}


def problem_example(status: int) -> dict[str, Any]:
    """An example problem+json body for an answer of `status`."""
    if status == 422:
        return {
            "type": PROBLEM_BASE + "validation-error",
            "title": "Request validation failed",
            "status": 422,
            "errors": [
                {
                    "loc": ["body", "date_range"],
                    "msg": "Field required",
                    "type": "missing",
                }
            ],
        }
    slug, title, detail = EXAMPLE_PROBLEMS.get(status, ("http-error", "Error", None))
    example: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    if detail is not None:
        example["detail"] = detail
    return example


def problem_schema() -> dict[str, Any]:
    """The Problem schema, its `type` listing every problem type Overt answers."""
    schema = Problem.model_json_schema()
    listed = "\n".join(f"- `{slug}`: {meaning}" for slug, meaning in PROBLEM_TYPES.items())
    schema["properties"]["type"]["description"] = (
        f"A URI naming the problem: `{PROBLEM_BASE}` and one of these slugs:\n\n{listed}"
    )
    schema["properties"]["type"]["examples"] = [PROBLEM_BASE + "k-anonymity"]
    return schema


class Problem(BaseModel):
    """The problem+json body (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class ProblemError(Exception):
    """An error that becomes a problem+json response."""

    def __init__(
        self,
        status: int,
        title: str,
        *,
        slug: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.type = PROBLEM_BASE + slug
        self.detail = detail
        self.headers = headers
        self.errors = errors


def problem_response(
    *,
    status: int,
    title: str,
    type_: str,
    detail: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Response:
    """Render one problem as application/problem+json."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type=PROBLEM_CONTENT_TYPE
    )


_STATUS_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "request-timeout",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
    503: "unavailable",
}


def field_errors(raw: list[Any]) -> list[dict[str, Any]]:
    """Pydantic errors without the rejected input (it may be personal data)."""
    return [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in raw
    ]


def problem_error_response(
    exc: ProblemError, *, instance: str, headers: dict[str, str] | None = None
) -> Response:
    """A ProblemError as problem+json; `headers` are added to the error's own."""
    return problem_response(
        status=exc.status,
        title=exc.title,
        type_=exc.type,
        detail=exc.detail,
        instance=instance,
        headers={**(headers or {}), **(exc.headers or {})},
        errors=exc.errors,
    )


async def _problem_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_error_response(exc, instance=request.url.path)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    from http import HTTPStatus

    title = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and isinstance(request.app, FastAPI):
        headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path, headers))
    return problem_response(
        status=exc.status_code,
        title=title,
        type_=PROBLEM_BASE + _STATUS_SLUGS.get(exc.status_code, "http-error"),
        detail=detail,
        instance=request.url.path,
        headers=headers,
    )


def allowed_methods(app: FastAPI, path: str, headers: dict[str, str]) -> list[str]:
    """Every method the path answers, for a 405's Allow header.

    Starlette lists only the methods of the first route whose path matched, though
    another route may serve the same path with other methods (GET and POST apart).
    Read from the routes, never from `app.openapi()`: building that document takes
    seconds, and the first 405 of a process (one anonymous TRACE) held the event loop,
    and every service's requests with it, that long.
    """
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "allow_table", None)
    if table is None:
        table = [
            (route.path_regex, set(route.methods))
            for route in iter_route_contexts(app.routes)  # included routers too, prefixed
            if route.methods
        ]
        app.state.allow_table = table
    methods = {m.strip() for m in headers.get("Allow", "").split(",") if m.strip()}
    for pattern, documented in table:
        if pattern.match(path):
            methods |= documented
    return sorted(methods)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return problem_response(
        status=422,
        title="Request validation failed",
        type_=PROBLEM_BASE + "validation-error",
        detail="The request does not match the documented schema.",
        instance=request.url.path,
        errors=field_errors(list(exc.errors())),
    )


# A dependency (database, Redis) that is down or restarting: the request may succeed later,
# so the answer is 503 with Retry-After, not 500 (promise 6: "answered 503, never 500").
_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,  # connection refused or reset (ConnectionError, TimeoutError are subclasses)
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection in time
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)


# SQLSTATE classes of a database that is unreachable, starting, stopping or out of
# connections: 08 connection exception, 53 insufficient resources, 57P operator
# intervention (57P03 "the database system is starting up" during crash recovery).
_OUTAGE_SQLSTATES = ("08", "53", "57P")


def is_outage(exc: BaseException) -> bool:
    """True when `exc` means a dependency is unreachable rather than a bug."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
        if exc.connection_invalidated or sqlstate.startswith(_OUTAGE_SQLSTATES):
            return True
    return isinstance(exc, _OUTAGES)


def unexpected_error_response(method: str, path: str, exc: BaseException) -> Response:
    """Log an unexpected exception (type and trace, never the request) and answer 500.

    An outage of a dependency answers 503 with Retry-After instead, logged without a trace.
    """
    if is_outage(exc):
        log.warning("dependency unavailable on %s %s: %s", method, path, type(exc).__name__)
        return problem_response(
            status=503,
            title="Service unavailable",
            type_=PROBLEM_BASE + "unavailable",
            detail="A dependency is briefly unavailable; retry shortly.",
            instance=path,
            headers={"Retry-After": "1"},
        )
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return problem_response(
        status=500,
        title="Internal server error",
        type_=PROBLEM_BASE + "internal",
        detail="Something went wrong on our side; the request id identifies it in our logs.",
        instance=path,
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return unexpected_error_response(request.method, request.url.path, exc)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of `app` an RFC 9457 problem+json response."""
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem+json errors."""
    return {
        status: {
            "model": Problem,
            "content": {PROBLEM_CONTENT_TYPE: {}},
            "description": _STATUS_SLUGS.get(status, "error").replace("-", " "),
        }
        for status in statuses
    }


def document_problems(app: FastAPI) -> None:
    """Make `app`'s OpenAPI say what the handlers above really answer.

    FastAPI documents its request-validation 422 as application/json with its own schema,
    and a `problem_responses` model under application/json too; Overt answers
    problem+json. And any operation with a body can answer 400 (a body that does not
    parse) and 413 (too large), and any operation 500, which no route lists by itself.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        problem = {"$ref": "#/components/schemas/Problem"}
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = problem_schema()
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                for status, response in responses.items():
                    content = response.get("content", {})
                    if status == "422" or PROBLEM_CONTENT_TYPE in content:
                        response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": problem}}
                if "requestBody" in operation:
                    # A body that does not parse, or one over the size limit (shared.body).
                    for status, description in (
                        ("400", "bad request"),
                        ("413", "payload too large"),
                    ):
                        responses.setdefault(
                            status,
                            {
                                "description": description,
                                "content": {PROBLEM_CONTENT_TYPE: {"schema": problem}},
                            },
                        )
                # Any operation can fail unexpectedly; the answer is a problem with the
                # request id and no detail (the trace goes to the log).
                responses.setdefault(
                    "500",
                    {
                        "description": "internal error",
                        "content": {PROBLEM_CONTENT_TYPE: {"schema": problem}},
                    },
                )
                for status, response in responses.items():
                    content = response.get("content", {}).get(PROBLEM_CONTENT_TYPE)
                    if content is not None:
                        content.setdefault("example", problem_example(int(status)))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
