"""Consent over HTTP and below it: the consent API's decisions, the hosted preference page's
forms, and an attacker with DBA rights on the ledger."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.consent.ledger.models import APPEND_ONLY
from shared.app import asgi_app
from shared.dialect import append_only_ddl, drop_append_only_ddl
from shared.runtime import open_resources
from shared.sites import Site
from tests.helpers.overt import Overt, make_app, running

FORM = {"content-type": "application/x-www-form-urlencoded"}


def page_url(site: Site) -> str:
    return f"/consent/sites/{site.id}/preferences"


async def open_page(overt: Overt, site: Site) -> tuple[httpx.Response, str]:
    response = await overt.client.get(page_url(site))
    assert response.status_code == 200
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', response.text)
    assert match is not None
    return response, match.group(1)


async def post(overt: Overt, site: Site, action: str, **fields: str) -> httpx.Response:
    return await overt.client.post(
        f"{page_url(site)}/{action}", data=fields, headers={**FORM, "origin": "http://overt.test"}
    )


async def post_decisions(
    overt: Overt, site: Site, credential: str | None = None, **choices: bool
) -> httpx.Response:
    headers = {"authorization": f"Bearer {credential}"} if credential else {}
    return await overt.client.post(
        f"/consent/sites/{site.id}/decisions",
        json={"choices": choices, "method": "api", "jurisdiction": "EU"},
        headers=headers,
    )


@asynccontextmanager
async def as_attacker(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection that bypasses the append-only triggers, like a DBA or a stolen db file."""
    async with engine.begin() as conn:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for table in APPEND_ONLY:
                for statement in drop_append_only_ddl(dialect, table.name):
                    await conn.execute(text(statement))
        yield conn
        if dialect != "postgresql":
            for table in APPEND_ONLY:
                for statement in append_only_ddl(dialect, table.name):
                    await conn.execute(text(statement))


@asynccontextmanager
async def overt_with(overt: Overt, **changes: object) -> AsyncIterator[Overt]:
    """Another app on the same database and Redis, with some settings changed (limits)."""
    settings = overt.resources.settings.model_copy(update=changes)
    async with open_resources(settings) as resources:
        app = make_app(resources, worker=False)
        async with running(app) as client:
            yield Overt(resources=resources, app=app, client=client, site=overt.site, key=overt.key)


@asynccontextmanager
async def client_from(overt: Overt, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `overt`'s app that connects from another IP address."""
    transport = httpx.ASGITransport(app=asgi_app(overt.app), client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://overt.test") as client:
        yield client
