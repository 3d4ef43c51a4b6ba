"""Erasure and withdrawal reach events still in the queue: the worker decides an event's link
to its subject again when it stores it. Both backends, exactly the reproduction: worker
held, three events sent with a valid token, erase (or withdraw), worker started."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.collector.links import keep_link
from services.collector.worker import run_ingest
from services.consent.sites.service import ensure_site
from shared.models import events
from shared.queue import InProcessQueue
from shared.runtime import Resources
from shared.sites import create_site
from tests.helpers.consent import post_decisions
from tests.helpers.overt import Overt, make_app, running, wait_drained

pytestmark = pytest.mark.anyio

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0"


@pytest.fixture
async def held(resources: Resources) -> AsyncIterator[Overt]:
    """The all-in-one app with its ingest worker held (not started)."""
    site = await create_site(engine=resources.engine, domain="example.com")
    app = make_app(resources, worker=False)
    async with running(app) as client:
        yield Overt(resources=resources, app=app, client=client, site=site, key="")


async def send_queued(overt: Overt, token: str) -> list[asyncio.Task[httpx.Response]]:
    """Three tokened events, queued; the in-process queue answers them once stored."""
    sends = [
        asyncio.create_task(
            overt.send(
                overt.event(u=f"https://example.com/{n}", k=token),
                **{"user-agent": CHROME},
            )
        )
        for n in range(3)
    ]
    if not isinstance(overt.resources.queue, InProcessQueue):
        # Redis answers once queued (its group commit may merge them into one entry).
        assert [(await send).status_code for send in sends] == [202] * 3
        return sends
    async with asyncio.timeout(10):
        while await overt.resources.queue.depth() < 3:
            await asyncio.sleep(0.01)
    return sends


async def links_after_worker(overt: Overt, sends: list[asyncio.Task[httpx.Response]]) -> Any:
    stop = asyncio.Event()
    worker = asyncio.create_task(run_ingest(overt.resources, stop))
    await wait_drained(overt.resources.queue)
    stop.set()
    await worker
    assert [(await send).status_code for send in sends] == [202] * 3
    async with overt.resources.engine.connect() as conn:
        return sorted((await conn.execute(select(events.c.subject_id))).scalars(), key=str)


@pytest.mark.parametrize("then", ["erase", "withdraw", "nothing"])
async def test_consent_ended_while_queued_unlinks(held: Overt, then: str) -> None:
    site = await ensure_site(
        engine=held.resources.engine,
        secret=held.resources.settings.secret(),
        site_id=held.site.id,
    )
    granted = (await post_decisions(held, site, identification=True)).json()
    subject, token, credential = granted["subject_id"], granted["token"], granted["credential"]
    sends = await send_queued(held, token)

    if then == "erase":
        erased = await held.client.post(
            f"/consent/sites/{site.id}/erase", headers={"authorization": f"Bearer {credential}"}
        )
        assert erased.status_code == 200, erased.text
    elif then == "withdraw":
        withdrawn = await post_decisions(held, site, credential, identification=False)
        assert withdrawn.status_code == 200, withdrawn.text

    linked = await links_after_worker(held, sends)
    assert linked == ([subject] * 3 if then == "nothing" else [None] * 3)


def test_keep_link_decision() -> None:
    assert keep_link(identifiable=True, revoked_ms=None, event_ms=1_000)
    assert keep_link(identifiable=True, revoked_ms=999, event_ms=1_000)  # consented again
    assert not keep_link(identifiable=True, revoked_ms=1_000, event_ms=1_000)
    assert not keep_link(identifiable=False, revoked_ms=None, event_ms=1_000)  # erased, ended
