"""Every error of every service is problem+json; unexpected ones leak nothing."""

from __future__ import annotations

import logging

import pytest
from fastapi import APIRouter
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.app import build_app
from shared.runtime import Resources
from tests.helpers.backends import free_port
from tests.helpers.overt import Overt, running
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio


async def test_unknown_path_and_wrong_method(overt: Overt) -> None:
    assert_problem(await overt.client.get("/nope"), 404, "not-found")
    assert_problem(await overt.client.get("/e"), 405, "method-not-allowed")
    assert_problem(await overt.client.delete("/v1/query"), 405, "method-not-allowed")


async def test_unexpected_error_is_a_bare_500_with_request_id(
    resources: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    boom = APIRouter()

    @boom.get("/boom")
    async def explode() -> None:
        raise RuntimeError("internal detail: password=hunter2")

    app = build_app(title="t", settings=resources.settings, routers=[boom], resources=resources)
    with caplog.at_level(logging.ERROR):
        async with running(app) as client:
            response = await client.get("/boom", headers={"x-request-id": "abc-123"})
    body = assert_problem(response, 500, "internal")
    assert "hunter2" not in response.text
    assert body["instance"] == "/boom"
    assert response.headers["x-request-id"] == "abc-123"
    assert any("unhandled error" in r.getMessage() for r in caplog.records)


async def test_health_and_readiness(overt: Overt) -> None:
    assert (await overt.client.get("/healthz")).json() == {"status": "ok"}
    ready = await overt.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "queue": "ok"}


async def test_readiness_fails_with_problem_when_redis_is_down(resources: Resources) -> None:
    from dataclasses import replace

    from redis.asyncio import Redis

    from shared.queue import RedisStreamQueue

    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    broken = replace(resources, queue=RedisStreamQueue(dead, prefix="x", consumer="c"))
    app = build_app(title="t", settings=resources.settings, routers=[], resources=broken)
    async with running(app) as client:
        response = await client.get("/readyz")
    body = assert_problem(response, 503, "not-ready")
    assert "queue" in str(body["detail"])
    await dead.aclose()


async def test_openapi_documents_problem_responses(overt: Overt) -> None:
    spec = (await overt.client.get("/openapi.json")).json()
    responses = spec["paths"]["/e"]["post"]["responses"]
    assert {"400", "403", "413", "415", "422", "503"} <= set(responses)
    assert "application/problem+json" in responses["413"]["content"]
    assert "/v1/query" in spec["paths"]
    assert (await overt.client.get("/docs")).status_code == 200


async def test_a_dependency_that_is_down_is_a_503_with_retry_after(
    resources: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    """Real clients against closed ports: an outage is 'retry later', never a 500."""
    port = free_port()  # nothing listens there
    down = APIRouter()

    @down.get("/database")
    async def database() -> None:
        engine = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/overt")
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    @down.get("/redis")
    async def queue() -> None:
        client = Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
        try:
            await client.ping()
        finally:
            await client.aclose()

    app = build_app(title="t", settings=resources.settings, routers=[down], resources=resources)
    with caplog.at_level(logging.WARNING):
        async with running(app) as client:
            for path in ("/database", "/redis"):
                response = await client.get(path)
                assert_problem(response, 503, "unavailable")
                assert response.headers["retry-after"] == "1"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_405_lists_every_method_without_building_the_openapi_document(
    resources: Resources,
) -> None:
    # `make fuzz` timed out on a TRACE: the first 405 of a process built the OpenAPI
    # document for its Allow header, holding the event loop (all services) for seconds.
    split = APIRouter()

    @split.get("/things/{thing_id}")
    async def read(thing_id: str) -> None: ...

    @split.post("/things/{thing_id}")
    async def write(thing_id: str) -> None: ...

    app = build_app(title="t", settings=resources.settings, routers=[split], resources=resources)
    async with running(app) as client:
        response = await client.request("TRACE", "/things/a-1")
    assert_problem(response, 405, "method-not-allowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}
    assert app.openapi_schema is None
