"""`overt up` stops on Ctrl-C without losing what it accepted (real process, real signal)."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from shared.db import create_engine
from shared.models import events
from shared.settings import Settings
from shared.sites import create_site
from tests.helpers.backends import free_port
from tests.helpers.processes import start_overt, stop_overt

pytestmark = pytest.mark.anyio

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0"


async def stored(settings: Settings) -> int:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(events))).scalar_one())
    finally:
        await engine.dispose()


async def test_ctrl_c_under_load_drains_and_loses_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    engine = create_engine(settings)
    site = await create_site(engine=engine, domain="example.com")
    await engine.dispose()
    port, log = free_port(), tmp_path / "overt.log"
    process = await start_overt(settings, port, log)

    async def send(client: httpx.AsyncClient) -> int:
        body = {"s": site.id, "n": "pageview", "u": "https://example.com/", "i": uuid.uuid4().hex}
        try:
            response = await client.post(
                "/e",
                content=orjson.dumps(body),
                headers={"content-type": "text/plain", "user-agent": BROWSER},
            )
        except httpx.TransportError:
            return 0  # refused once shutdown began: not accepted, nothing owed
        return 1 if response.status_code == 202 else 0

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        first = await asyncio.gather(*(send(client) for _ in range(100)))
        pending = [asyncio.create_task(send(client)) for _ in range(200)]
        await asyncio.sleep(0.05)
        process.send_signal(signal.SIGINT)
        accepted = sum(first) + sum(await asyncio.gather(*pending))
    assert await stop_overt(process, signal.SIGINT) == 0, log.read_text()
    assert accepted >= 100
    if settings.redis_url:
        # What the stopped worker had not taken yet waits in the stream for the next start.
        process = await start_overt(settings, port, log)
        async with asyncio.timeout(20):
            while await stored(settings) < accepted:
                await asyncio.sleep(0.1)
        assert await stop_overt(process, signal.SIGINT) == 0
    assert await stored(settings) == accepted
