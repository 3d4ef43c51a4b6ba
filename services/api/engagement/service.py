"""Engagement definitions: per site, versioned, append-only, and applied at query time.

A definition says what counts as an engaged session, how an engagement score is weighted,
which pages show high intent, which rules make intent, the intent threshold and the k of
k-anonymity. Every PUT stores version n+1 and old versions stay, so an answer can cite the
version it used and be reproduced later. A site that never stored one has version 0: the
defaults, with the engaged-session thresholds of its SiteSettings.

Engagement is evaluated from stored session facts (engaged_ms, pageviews, goals) when a
query runs, so a new version applies to history too: ingest stores no verdict of its own
(migration 0305). The rules themselves (engaged, score, intent) are in rules.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.api.engagement.exceptions import DefinitionConflict, UnknownDefinitionVersion
from services.api.engagement.models import engagement_definitions
from services.api.engagement.schemas import Definition, DefinitionIn
from shared.sites import Site, site_in


def _from_row(row: Any) -> Definition:
    return Definition.model_validate(
        {**row.body, "version": row.version, "created_at": row.created_at}
    )


async def _default_definition(
    conn: AsyncConnection, site_id: str, site: Site | None = None
) -> Definition:
    site = site or await site_in(conn, site_id)
    if site is None:
        return Definition(version=0)
    return Definition(
        version=0,
        engaged_min_ms=site.settings.engaged_min_ms,
        engaged_min_pageviews=site.settings.engaged_min_pageviews,
    )


def _newest_first(site_id: str) -> Select[Any]:
    return (
        select(engagement_definitions)
        .where(engagement_definitions.c.site_id == site_id)
        .order_by(engagement_definitions.c.version.desc())
    )


async def current_definition(engine: AsyncEngine, site_id: str) -> Definition:
    """The site's latest definition (version 0, the defaults, when it never stored one)."""
    async with engine.connect() as conn:
        return await _current_in(conn, site_id)


async def _current_in(conn: AsyncConnection, site_id: str, site: Site | None = None) -> Definition:
    row = (await conn.execute(_newest_first(site_id).limit(1))).first()
    return _from_row(row) if row is not None else await _default_definition(conn, site_id, site)


async def definition_at(engine: AsyncEngine, site_id: str, version: int) -> Definition | None:
    """One stored version (0 is the defaults), or None when the site has no such version."""
    async with engine.connect() as conn:
        return await _at_in(conn, site_id, version)


async def _at_in(conn: AsyncConnection, site_id: str, version: int) -> Definition | None:
    if version == 0:
        return await _default_definition(conn, site_id)
    row = (
        await conn.execute(
            select(engagement_definitions).where(
                engagement_definitions.c.site_id == site_id,
                engagement_definitions.c.version == version,
            )
        )
    ).first()
    return _from_row(row) if row is not None else None


async def definition_versions(*, engine: AsyncEngine, site_id: str) -> list[Definition]:
    """Every version the site stored, newest first, ending with version 0 (the defaults)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(_newest_first(site_id))).all()
        return [*(_from_row(row) for row in rows), await _default_definition(conn, site_id)]


async def store_definition(*, engine: AsyncEngine, site_id: str, body: DefinitionIn) -> Definition:
    """Append version n+1; the earlier versions stay as they were."""
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            latest = (
                await conn.execute(
                    select(func.max(engagement_definitions.c.version)).where(
                        engagement_definitions.c.site_id == site_id
                    )
                )
            ).scalar_one_or_none()
            version = int(latest or 0) + 1
            await conn.execute(
                insert(engagement_definitions).values(
                    site_id=site_id,
                    version=version,
                    created_at=now,
                    body=body.model_dump(mode="json"),
                )
            )
    except IntegrityError:
        raise DefinitionConflict() from None
    return Definition.model_validate({**body.model_dump(), "version": version, "created_at": now})


async def change_k(*, engine: AsyncEngine, site_id: str, k: int) -> int:
    """Store the current definition with another k as the next version (nothing when k is
    already that); returns the k in force. k is checked as a definition's (DefinitionIn)."""
    current = await current_definition(engine, site_id)
    if current.k == k:
        return k
    body = DefinitionIn.model_validate(
        {**current.model_dump(exclude={"version", "created_at"}), "k": k}
    )
    return (await store_definition(engine=engine, site_id=site_id, body=body)).k


async def resolve_definition(
    *, engine: AsyncEngine, site_id: str, version: int | None
) -> Definition:
    """The version a request asked for, or the site's current one."""
    if version is None:
        return await current_definition(engine, site_id)
    found = await definition_at(engine, site_id, version)
    if found is None:
        raise UnknownDefinitionVersion(version)
    return found


async def answering_definition(
    *, engine: AsyncEngine, site_id: str, version: int | None
) -> Definition:
    """The version a query or report asked for (the current one if none), under the k in
    force (`answering_definition_in`)."""
    async with engine.connect() as conn:
        return await answering_definition_in(conn, site_id=site_id, version=version)


async def answering_definition_in(
    conn: AsyncConnection, *, site_id: str, version: int | None, site: Site | None = None
) -> Definition:
    """`answering_definition` on a connection already open (the `site` if it was read).

    A version reproduces what counted as engagement; k is the site's privacy floor for what
    it releases now. An old version's lower k would undo a raise (a site moved k from 5 to
    20, a key asks for version 0), and its higher k protects nothing the current one does
    not already allow, so the current k applies to every answer.
    """
    current = await _current_in(conn, site_id, site)
    if version is None or version == current.version:
        return current
    found = await _at_in(conn, site_id, version)
    if found is None:
        raise UnknownDefinitionVersion(version)
    return found.model_copy(update={"k": current.k})
