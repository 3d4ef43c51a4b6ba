"""The one way an Overt HTTP app is assembled: problem+json errors, request ids, health, lifespan.

Each service describes its share of a process as `AppParts` (routers, startup hooks,
background tasks, front layers) in its `app.py`; `app_from_parts` builds one service's app
from them, and the CLI adds several services' parts up for the all-in-one process. Parts
are arguments, so `shared` never imports a service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp

from shared.body import BodyLimitMiddleware
from shared.docs import apply_examples, docs_router, load_examples
from shared.errors import (
    ProblemError,
    document_problems,
    install_problem_handlers,
    problem_responses,
)
from shared.logging import RequestIdMiddleware
from shared.metrics import check_metrics_access, render_metrics
from shared.runtime import Resources, ResourcesDep, check_ready, open_resources
from shared.settings import Settings

log = logging.getLogger("overt.app")

# A layer that runs in front of the framework; it gets the next ASGI app and the FastAPI app
# (for its state) and answers its own paths before request ids, routing, middleware and DI
# cost anything; it tags and logs its own answers (see asgi_app).
FrontLayer = Callable[[ASGIApp, FastAPI], ASGIApp]
BackgroundTask = Callable[[Resources, asyncio.Event], Coroutine[Any, Any, None]]
StartupHook = Callable[[Resources], Awaitable[None]]


@dataclass(frozen=True)
class AppParts:
    """What one service adds to an Overt process; parts add up (`a + b`) in order."""

    routers: tuple[APIRouter, ...] = ()
    # requests the service sends out, documented as the spec's `webhooks` (OpenAPI 3.1)
    webhooks: tuple[APIRouter, ...] = ()
    startup: tuple[StartupHook, ...] = ()
    background: tuple[BackgroundTask, ...] = ()
    front: tuple[FrontLayer, ...] = ()
    # its operations' OpenAPI examples (shared.docs.load_examples), by operation id
    examples: tuple[Path, ...] = ()

    def __add__(self, other: AppParts) -> AppParts:
        return AppParts(
            routers=self.routers + other.routers,
            webhooks=self.webhooks + other.webhooks,
            startup=self.startup + other.startup,
            background=self.background + other.background,
            front=self.front + other.front,
            examples=self.examples + other.examples,
        )


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz", summary="Dependencies (database, queue) answer", responses=problem_responses(503)
    )
    async def readyz(resources: ResourcesDep) -> dict[str, str]:
        checks = await check_ready(resources)
        if any(value != "ok" for value in checks.values()):
            failing = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
            raise ProblemError(503, "Not ready", slug="not-ready", detail=failing)
        return {"status": "ok", **checks}

    @router.get(
        "/metrics",
        summary="This process's Prometheus metrics (scrape each process)",
        description="With OVERT_METRICS_TOKEN set: `Authorization: Bearer TOKEN`. Without "
        "it: loopback clients only, not through a proxy.",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            **problem_responses(401, 403),
        },
    )
    async def metrics(request: Request, resources: ResourcesDep) -> Response:
        check_metrics_access(
            settings=resources.settings,
            peer=request.client.host if request.client else None,
            headers=request.headers,
        )
        body, content_type = await render_metrics(resources.queue)
        return Response(body, media_type=content_type)

    return router


# The examples of the operations every process has (health_router's).
HEALTH_EXAMPLES = Path(__file__).parent / "openapi_examples.json"

# Every tag an operation carries, described once (the OpenAPI document lists them in order).
OPENAPI_TAGS = [
    {"name": "stats", "description": "Aggregate queries and reports over a site's events"},
    {"name": "definitions", "description": "A site's engagement definitions, versioned"},
    {"name": "contacts", "description": "Consented contacts with their score and intent"},
    {"name": "outcomes", "description": "Campaign outcomes and the report on them"},
    {"name": "webhooks", "description": "Webhook subscriptions and their deliveries"},
    {"name": "goals", "description": "A site's goals: pages, custom events, revenue"},
    {"name": "segments", "description": "Named, saved filter trees usable in any query"},
    {"name": "realtime", "description": "The last minutes' visitors, pages and sources"},
    {"name": "transfer", "description": "Exports as Plausible CSV; Plausible and Umami imports"},
    {"name": "collector", "description": "Event intake from the snippet and its script"},
    {"name": "consent", "description": "The consent widget's API: decisions, state, rights"},
    {"name": "preference page", "description": "The visitor's preference page (HTML forms)"},
    {"name": "health", "description": "Liveness, readiness and metrics"},
]


def operation_id(route: APIRoute) -> str:
    """A stable, readable operation id: the handler's name in camelCase (`take_events` ->
    `takeEvents`), unless the route names its own (`operation_id="listContacts"`)."""
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def tidy_openapi(spec: dict[str, Any]) -> dict[str, Any]:
    """What OpenAPI tools (linters, client generators) need beyond FastAPI's document:
    a fixed-length array (pydantic's `prefixItems`, a date pair) also says its `items`; a
    webhook (a request Overt sends) lists no 422 of FastAPI's request validation."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            prefix = node.get("prefixItems")
            if node.get("type") == "array" and "items" not in node and isinstance(prefix, list):
                distinct = [item for n, item in enumerate(prefix) if item not in prefix[:n]]
                node["items"] = distinct[0] if len(distinct) == 1 else {"anyOf": distinct}
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec.get("components", {}))
    walk(spec.get("paths", {}))
    for operations in spec.get("webhooks", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    return spec


def build_app(
    *,
    title: str,
    settings: Settings,
    routers: Sequence[APIRouter],
    webhooks: Sequence[APIRouter] = (),
    resources: Resources | None = None,
    startup: Sequence[StartupHook] = (),
    background: Sequence[BackgroundTask] = (),
    front: Sequence[FrontLayer] = (),
    examples: Sequence[Path] = (),
) -> FastAPI:
    """An app serving `routers` plus /healthz and /readyz.

    With `resources` given, the caller owns them; otherwise the lifespan opens and closes
    them. Background tasks get a stop event at shutdown and are awaited (they drain).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            owned: Resources = (
                resources
                if resources is not None
                else await stack.enter_async_context(open_resources(settings))
            )
            app.state.resources = owned
            for hook in startup:
                await hook(owned)
            stop = asyncio.Event()
            tasks = [asyncio.create_task(task(owned, stop)) for task in background]
            try:
                yield
            finally:
                stop.set()
                if tasks:
                    await asyncio.gather(*tasks, return_exceptions=True)

    app = FastAPI(
        title=title,
        version="0.1.0",
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry looks up the global providers on every request
        # (a large share of the CPU of /e in a profile); Overt exports its own metrics.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # shared.docs serves /docs: vendored Swagger UI under a strict CSP
        redoc_url=None,
        openapi_tags=OPENAPI_TAGS,
        generate_unique_id_function=operation_id,
    )
    install_problem_handlers(app)
    document_problems(app)
    generate = app.openapi
    given: dict[str, Any] = load_examples(HEALTH_EXAMPLES)
    for path in examples:
        given |= load_examples(path)
    app.openapi = lambda: apply_examples(tidy_openapi(generate()), given)  # type: ignore[method-assign]
    app.state.front = tuple(front)
    app.state.max_body_bytes = settings.max_body_bytes
    app.include_router(health_router())
    app.include_router(docs_router(title=title))
    for router in routers:
        app.include_router(router)
    for hooks in webhooks:
        app.webhooks.include_router(hooks)
    return app


def app_from_parts(
    title: str, settings: Settings, parts: AppParts, resources: Resources | None = None
) -> FastAPI:
    """`build_app` for a service's (or several services') parts."""
    return build_app(
        title=title,
        settings=settings,
        routers=parts.routers,
        webhooks=parts.webhooks,
        resources=resources,
        startup=parts.startup,
        background=parts.background,
        front=parts.front,
        examples=parts.examples,
    )


def asgi_app(app: FastAPI) -> ASGIApp:
    """What the server runs: the front layers outermost, then request ids, the body size
    limit and FastAPI. A front layer gives its own answers their request id and access line
    (shared.logging.new_request_id, log_answer): wrapping every send of /e in the request-id
    middleware cost a measurable share of its CPU."""
    outer: ASGIApp = RequestIdMiddleware(
        BodyLimitMiddleware(app, max_bytes=app.state.max_body_bytes)
    )
    for layer in reversed(app.state.front):
        outer = layer(outer, app)
    return outer
