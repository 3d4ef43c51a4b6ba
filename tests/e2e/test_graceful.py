"""SIGTERM on the api and consent processes: new connections are refused, the request in
flight is finished and answered, then the process exits 0.

"In flight" is made deterministic with a slow client: the headers are sent, half of the
body, then the signal, then the other half; the answer must still come, complete.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from services.consent.sites.service import ensure_site
from shared.db import create_engine
from shared.settings import Settings
from tests.helpers.backends import free_port
from tests.helpers.load import site_with_key
from tests.helpers.processes import start_all, start_service

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]


async def answer_after_sigterm(
    process: asyncio.subprocess.Process, port: int, path: str, body: bytes, **headers: str
) -> tuple[int, bytes, bool]:
    """Send half the request, SIGTERM, the other half; returns status, body, and whether a
    new connection was accepted meanwhile."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [f"POST {path} HTTP/1.1", "Host: overt.test", f"Content-Length: {len(body)}"]
    head += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    head += ["Connection: close", "", ""]
    writer.write("\r\n".join(head).encode() + body[: len(body) // 2])
    await writer.drain()
    await asyncio.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    await asyncio.sleep(1.0)  # the server has stopped listening by now
    try:
        _, late = await asyncio.open_connection("127.0.0.1", port)
        late.close()
        accepted_new = True
    except OSError:
        accepted_new = False
    writer.write(body[len(body) // 2 :])
    await writer.drain()
    async with asyncio.timeout(30):
        response = await reader.read()
    writer.close()
    status_line, _, rest = response.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2], accepted_new


async def test_api_and_consent_finish_the_request_in_flight(
    postgres_settings: Settings, tmp_path: Path
) -> None:
    settings = postgres_settings
    site_id, key = await site_with_key(settings)
    engine = create_engine(settings)
    await ensure_site(engine=engine, secret=settings.secret(), site_id=site_id)
    await engine.dispose()
    ports = {"api": free_port(), "consent": free_port()}
    processes = await start_all(
        {
            name: start_service(settings, name, port, tmp_path / f"{name}.log")
            for name, port in ports.items()
        }
    )
    today = datetime.now(UTC).date().isoformat()
    query = orjson.dumps(
        {"site_id": site_id, "metrics": ["pageviews"], "date_range": [today, today]}
    )
    decision = orjson.dumps({"choices": {"analytics": True}, "method": "api"})
    try:
        api, consent = await asyncio.gather(
            answer_after_sigterm(
                processes["api"],
                ports["api"],
                "/v1/query",
                query,
                content_type="application/json",
                authorization=f"Bearer {key}",
            ),
            answer_after_sigterm(
                processes["consent"],
                ports["consent"],
                f"/consent/sites/{site_id}/decisions",
                decision,
                content_type="application/json",
            ),
        )
        # Already signalled once: a second SIGTERM is not part of the test, only the exit.
        codes = await asyncio.gather(
            *(asyncio.wait_for(process.wait(), 30) for process in processes.values())
        )
    finally:
        for process in processes.values():
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert api[0] == 200, api
    assert orjson.loads(api[1])["results"] == [{"metrics": [0], "dimensions": []}]
    assert consent[0] == 201, consent  # the decision was recorded
    assert orjson.loads(consent[1])["receipt"] is not None
    assert (api[2], consent[2]) == (False, False)  # no new connection once stopping
    assert list(codes) == [0, 0]
