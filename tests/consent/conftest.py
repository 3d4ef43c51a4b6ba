"""Helpers for consent tests: a set-up site, subjects, and an attacker with DBA rights."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.consent.models import APPEND_ONLY
from services.consent.service import ensure_site
from shared.dialect import append_only_ddl, drop_append_only_ddl
from shared.sites import Site
from tests.helpers.overt import Overt


@pytest.fixture
async def site(overt: Overt) -> Site:
    """The test site with its consent keys, chain and default purposes."""
    return await ensure_site(
        engine=overt.resources.engine,
        secret=overt.resources.settings.secret(),
        site_id=overt.site.id,
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
