"""The all-in-one app under test (all three services, optionally the ingest worker) and the
`Overt` harness the `overt` fixture hands to a test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import orjson
from fastapi import FastAPI

from services.api.app import EXAMPLES as API_EXAMPLES
from services.api.keys.service import create_key
from services.api.people.events import webhook_docs
from services.api.router import router as api_router
from services.api.transfer.tasks import upload_limit
from services.collector.app import EXAMPLES as COLLECTOR_EXAMPLES
from services.collector.router import EventIntakeMiddleware
from services.collector.router import router as collector_router
from services.collector.worker import run_ingest
from services.consent.app import EXAMPLES as CONSENT_EXAMPLES
from services.consent.router import router as consent_router
from shared.app import asgi_app, build_app
from shared.keys import KeyScope
from shared.queue import EventQueue
from shared.runtime import Resources, open_resources
from shared.settings import Settings
from shared.sites import Site, create_site


def make_app(resources: Resources, *, worker: bool = True) -> FastAPI:
    """All three services in one app, like `overt up`, optionally with the ingest worker."""
    return build_app(
        title="Overt (test)",
        settings=resources.settings,
        routers=[collector_router, consent_router, api_router],
        webhooks=[webhook_docs],
        resources=resources,
        background=[run_ingest] if worker else [],
        front=[EventIntakeMiddleware, upload_limit],
        examples=[COLLECTOR_EXAMPLES, CONSENT_EXAMPLES, API_EXAMPLES],
    )


async def wait_drained(queue: EventQueue, timeout: float = 15.0) -> None:
    """Wait until an ingest worker has committed everything queued (bounded)."""
    async with asyncio.timeout(timeout):
        while await queue.depth():
            await asyncio.sleep(0.01)


@dataclass
class Overt:
    """A running all-in-one app under test, with one registered site and a stats key."""

    resources: Resources
    app: FastAPI
    client: httpx.AsyncClient
    site: Site
    key: str

    def event(self, **overrides: object) -> dict[str, object]:
        body: dict[str, object] = {
            "s": self.site.id,
            "n": "pageview",
            "u": "https://example.com/pricing",
            "r": None,
            "i": uuid.uuid4().hex,
        }
        body.update(overrides)
        return body

    async def send(self, body: object, **headers: str) -> httpx.Response:
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        return await self.client.post(
            "/e",
            content=content,
            headers={
                "content-type": "text/plain",
                "origin": "https://example.com",
                "user-agent": "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0",
                **headers,
            },
        )

    async def drained(self) -> None:
        await wait_drained(self.resources.queue)

    async def query(
        self,
        site_id: str | None = None,
        key: str | None = None,
        date_range: tuple[str, str] | None = None,
    ) -> httpx.Response:
        await self.drained()
        today = datetime.now(UTC).date().isoformat()
        return await self.client.post(
            "/v1/query",
            json={
                "site_id": site_id or self.site.id,
                "metrics": ["visitors", "pageviews"],
                "date_range": list(date_range or (today, today)),
            },
            headers={"authorization": f"Bearer {key or self.key}"},
        )


@asynccontextmanager
async def overt_on(resources: Resources) -> AsyncIterator[Overt]:
    """The all-in-one app running on these resources, with a site and its stats key."""
    site = await create_site(engine=resources.engine, domain="example.com")
    _, key = await create_key(
        engine=resources.engine, site_id=site.id, scopes=[KeyScope.stats_read]
    )
    app = make_app(resources)
    async with running(app) as client:
        yield Overt(resources=resources, app=app, client=client, site=site, key=key)


@asynccontextmanager
async def overt_with(settings: Settings, **changes: object) -> AsyncIterator[Overt]:
    """Like the `overt` fixture, on resources of its own opened with these settings changed
    (a proxy's headers, webhook timings...)."""
    async with (
        open_resources(settings.model_copy(update=changes)) as opened,
        overt_on(opened) as overt,
    ):
        yield overt


@asynccontextmanager
async def running(
    app: FastAPI, base_url: str = "http://overt.test"
) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=asgi_app(app), client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client
