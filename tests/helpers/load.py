"""A steady, bounded load on real collectors, and what the database holds afterwards.

The load behaves like the snippet: a batch answered 503 or cut off is sent again with the
same event ids (to the next collector), so in the end every batch is accepted and the test
can demand accepted == stored, exactly, with every retry a chance to duplicate.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from services.api.keys.service import create_key
from shared.db import create_engine
from shared.keys import KeyScope
from shared.models import events, sessions
from shared.settings import Settings
from shared.sites import create_site

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0"
HEADERS = {"content-type": "text/plain", "user-agent": BROWSER, "origin": "https://example.com"}
VISITORS = 8


@dataclass
class LoadReport:
    accepted: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)  # every answer, retries included
    cut: int = 0  # requests that got no answer (connection refused or reset)


def batch(site_id: str, size: int) -> tuple[list[str], bytes]:
    ids = [uuid.uuid4().hex for _ in range(size)]
    body = [
        {"s": site_id, "n": "pageview", "u": f"https://example.com/p{n % 7}", "i": event_id}
        for n, event_id in enumerate(ids)
    ]
    return ids, orjson.dumps(body)


async def steady_load(
    collectors: list[str],
    site_id: str,
    *,
    batches: int,
    size: int = 10,
    senders: int = 4,
    pause: float = 0.005,
    until: asyncio.Event | None = None,
    report: LoadReport | None = None,
    give_up_after: float = 60.0,
    visitors: int = VISITORS,
) -> LoadReport:
    """Send up to `batches` batches of `size` events over the collectors, `senders` at a time.

    With `until`, sending stops (after the batches in flight are accepted) once it is set.
    A `report` given is filled as the load goes (to watch it from another task).
    """
    report = report if report is not None else LoadReport()
    turn = itertools.count()
    todo = iter(range(batches))

    async def sender(client: httpx.AsyncClient) -> None:
        for number in todo:
            if until is not None and until.is_set():
                return
            ids, body = batch(site_id, size)
            # Several visitors (a visitor is a hash of IP and User-Agent), so aggregates
            # are not refused as identifying one visitor (k-anonymity, default k = 5).
            headers = HEADERS | {"user-agent": f"{BROWSER} Safari/537.{number % visitors}"}
            while True:
                url = collectors[next(turn) % len(collectors)]
                try:
                    response = await client.post(f"{url}/e", content=body, headers=headers)
                except httpx.TransportError:
                    report.cut += 1
                    await asyncio.sleep(0.05)
                    continue
                report.statuses[response.status_code] += 1
                if response.status_code == 202:
                    report.accepted.update(ids)
                    break
                if response.status_code != 503:
                    return  # a wrong answer: the test's status check reports it
                await asyncio.sleep(0.05)
            await asyncio.sleep(pause)

    async with httpx.AsyncClient(timeout=15) as client, asyncio.timeout(give_up_after):
        await asyncio.gather(*(sender(client) for _ in range(senders)))
    return report


async def site_with_key(settings: Settings) -> tuple[str, str]:
    """A registered site (example.com) and a stats:read API key for it."""
    engine = create_engine(settings)
    try:
        site = await create_site(engine=engine, domain="example.com")
        _, key = await create_key(engine=engine, site_id=site.id, scopes=[KeyScope.stats_read])
    finally:
        await engine.dispose()
    return site.id, key


async def stored_ids(settings: Settings) -> tuple[set[str], int]:
    """The distinct event ids in `events`, and the row count (equal when nothing is doubled)."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            ids = {row.hex for row in (await conn.execute(select(events.c.event_id))).scalars()}
            rows = int((await conn.execute(select(func.count()).select_from(events))).scalar_one())
    finally:
        await engine.dispose()
    return ids, rows


async def session_totals(
    settings: Settings,
) -> tuple[dict[Any, tuple[int, datetime, datetime]], dict[Any, tuple[int, datetime, datetime]]]:
    """Each session's (events, first, last seen) as `sessions` holds them, and as counted
    from its events in `events`: equal when no session change was lost or counted twice."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(sessions.c.session_id, sessions.c.events, sessions.c.started_at,
                       sessions.c.last_seen_at)
            )  # fmt: skip
            stored = {row[0]: tuple(row[1:]) for row in rows}
            counted = await conn.execute(
                select(events.c.session_id, func.count(), func.min(events.c.occurred_at),
                       func.max(events.c.occurred_at))
                .where(events.c.session_id.is_not(None))
                .group_by(events.c.session_id)
            )  # fmt: skip
            from_events = {row[0]: tuple(row[1:]) for row in counted}
    finally:
        await engine.dispose()
    return stored, from_events


async def wait_stored(settings: Settings, wanted: set[str], timeout: float = 30.0) -> set[str]:
    """Poll until every wanted id is stored (or the time is up); returns what is stored."""
    stored: set[str] = set()
    try:
        async with asyncio.timeout(timeout):
            while not wanted <= stored:
                await asyncio.sleep(0.2)
                stored, _ = await stored_ids(settings)
    except TimeoutError:
        pass
    return stored
