"""JSON-line logging with a request id on every record; nothing personal ever logged."""

from __future__ import annotations

import itertools
import logging
import secrets
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import unexpected_error_response
from shared.metrics import UNMATCHED_ROUTE, observe_request
from shared.ratelimit import rate_limit_headers

request_id_var: ContextVar[str | None] = ContextVar("overt_request_id", default=None)

access_log = logging.getLogger("overt.access")

# Request ids: a random per-process prefix and a counter. Unique, and far cheaper than
# reading the OS random source per request (6 % of /e's CPU in a profile).
_ID_PREFIX = secrets.token_hex(4).encode()
_ID_COUNTER = itertools.count(1)

# OVERT_ACCESS_LOG: every answer gets an access line, not only refusals (set at start).
_access = {"all": False}

QUIET_LIBRARIES = ("aiosqlite", "asyncpg", "sqlalchemy", "redis", "httpx", "httpcore", "asyncio")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    _reserved = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
        "message",
        "color_message",  # uvicorn's ANSI-coloured copy of msg
    }

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in self._reserved:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(*, fmt: str = "json", level: str = "INFO", access: bool = False) -> None:
    """Route all logging to stderr; uvicorn's access log (it carries client IPs) stays off.
    `access`: Overt's own access line for every answer, not only for refusals."""
    _access["all"] = access
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # Their DEBUG lines carry SQL parameters and payloads (event rows): never below WARNING.
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


def new_request_id(header: bytes | None) -> bytes:
    """The request's id as its header value: a sane incoming X-Request-ID (ASCII letters,
    digits and hyphens, at most 64), else a new one. Bytes: most are only ever sent back."""
    if header and len(header) <= 64 and header.replace(b"-", b"").isalnum():
        return header
    return b"%s%x" % (_ID_PREFIX, next(_ID_COUNTER))


def logs_every_answer() -> bool:
    """OVERT_ACCESS_LOG is on: successes get an access line too (see log_answer)."""
    return _access["all"]


def log_answer(method: str, where: str, status: int, began: float) -> None:
    """The access line of an answer: method, route template (or a fixed path, never what the
    client sent), status and duration; the record carries the request id. Refusals (>= 400)
    always get one; successes only with OVERT_ACCESS_LOG (they are counted in metrics)."""
    if (status >= 400 or _access["all"]) and access_log.isEnabledFor(logging.INFO):
        access_log.info(
            "%s %s %d",
            method,
            where,
            status,
            extra={"duration_ms": round((time.perf_counter() - began) * 1000, 2)},
        )


class RequestIdMiddleware:
    """Give each request an id (or keep a sane incoming one), echo it, log method/path/status.

    Pure ASGI rather than BaseHTTPMiddleware: it sits on the event-intake hot path.
    The access line holds no IP, User-Agent, query string, body or raw path. Routed requests (and
    unmatched 404s) are timed into the route-latency histogram under their route template.
    Front layers (/e) run outside this middleware and do the same for their own answers
    with `new_request_id` and `log_answer`; they have their own counters.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id(
            next((value for key, value in scope["headers"] if key == b"x-request-id"), None)
        )
        token = request_id_var.set(request_id.decode())
        began = time.perf_counter()
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id),
                    *rate_limit_headers(scope.get("state")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Handled here rather than by Starlette's outermost error middleware, so the
            # log line and the 500 response both carry the request id.
            if started and status in (500, 503):
                return  # the framework's error handler already logged and answered it
            if started:
                raise
            await unexpected_error_response(scope["method"], scope["path"], exc)(
                scope, receive, send_with_id
            )
        finally:
            route = scope.get("route")
            if route is not None or status == 404:
                observe_request(route, scope["method"], status, time.perf_counter() - began)
            # The route template, not the path: a client can put anything in a path
            # (an e-mail address as a site id). Unrouted 404s name no path at all.
            where = getattr(route, "path", None) or UNMATCHED_ROUTE
            log_answer(scope["method"], where, status, began)
            request_id_var.reset(token)
