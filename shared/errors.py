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
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://overt.dev/problems/"

log = logging.getLogger("overt.errors")


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
    """
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "allow_table", None)
    if table is None:
        table = [
            (
                re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"),
                {method.upper() for method in operations},
            )
            for template, operations in app.openapi().get("paths", {}).items()
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
        schemas.setdefault("Problem", Problem.model_json_schema())
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
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
