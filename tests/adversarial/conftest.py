"""A live all-in-one Overt on a loopback port, with a site and an API key.

Served as `overt up` serves it (the same app and the same uvicorn config), so what these
tests prove about HTTP parsing limits and timeouts holds for the real server.
"""

from __future__ import annotations

import asyncio
import os
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from services.api.keys.service import create_key
from services.cli import all_in_one_app, server_config
from shared.db import create_engine
from shared.keys import KeyScope
from shared.logging import configure_logging
from shared.settings import Settings
from shared.sites import create_site
from tests.helpers.backends import BACKENDS, free_port, make_settings
from tests.helpers.live import BODY_SECONDS, Live


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` fuzzes each operation on one backend, chosen by a stable hash of its name
    (so both backends keep about half of them, the same half every run); its run on the
    other backend is nightly. `make fuzz` (OVERT_FUZZ_EXAMPLES) runs every one on both."""
    if "OVERT_FUZZ_EXAMPLES" in os.environ:
        return
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("live") if callspec is not None else None
        if backend is None or "[" not in item.name:
            continue
        generated = item.name.startswith("test_responses_match_the_documented_schema[")
        operation = item.name.rsplit("[", 1)[0]
        chosen = BACKENDS[zlib.crc32(operation.encode()) % len(BACKENDS)]
        if generated and backend != chosen:
            item.add_marker(pytest.mark.nightly)


API_SCOPES = [scope for scope in KeyScope if scope is not KeyScope.events_write]


async def _site_and_keys(settings: Settings) -> tuple[str, str, str]:
    engine = create_engine(settings)
    try:
        site = await create_site(engine=engine, domain="example.com")
        # A budget above what the fuzzer sends: 429 is documented, but answers behind it matter.
        # Every scope of the API service: a key that may only read stats is refused (403)
        # before the body of a write is read, so the writes' 5xx would hide behind it. Not
        # events:write: /e ignores a key, and POST /api/event gets the ingest key below.
        _, key = await create_key(
            engine=engine, site_id=site.id, scopes=API_SCOPES, rate_limit=1_000_000
        )
        # POST /api/event as a backend sends it (test_openapi.py's KEYED_INTAKE): without
        # events:write, each of its cases was refused (403) before its body was read.
        _, ingest_key = await create_key(
            engine=engine, site_id=site.id, scopes=[KeyScope.events_write], rate_limit=1_000_000
        )
    finally:
        await engine.dispose()
    return site.id, key, ingest_key


@pytest.fixture(scope="module", params=BACKENDS)
def live(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    pg_database: str | None,
) -> Iterator[Live]:
    """The three services and the ingest worker in one uvicorn, as `overt up` runs them.

    One server per backend for the whole module: a fuzzing run is many requests, and
    starting a server per operation would cost more than the requests.
    """
    backend = make_settings(
        request.param, tmp_path_factory.mktemp("live"), sqlite_template, pg_database
    )
    settings = next(backend)
    try:
        yield from _serve(settings)
    finally:
        next(backend, None)  # the backend's cleanup (Redis keys)


def _serve(settings: Settings) -> Iterator[Live]:
    site_id, key, ingest_key = asyncio.run(_site_and_keys(settings))
    port = free_port()
    # A short body deadline (default 10 s) keeps the slow-client tests short.
    limits = {
        "host": "127.0.0.1",
        "port": port,
        "read_timeout_seconds": BODY_SECONDS,
        # Budgets above what the fuzzer sends: 429 is documented, but answers behind it matter.
        "consent_client_rate_limit": 1_000_000,
        "consent_site_rate_limit": 1_000_000,
        "consent_mails_per_address": 1_000_000,
        "consent_mails_per_client": 1_000_000,
        "consent_mails_per_site": 1_000_000,
    }
    settings = settings.model_copy(update=limits)
    configure_logging(fmt="json", level="INFO")  # as `overt up` does before serving
    config = server_config(all_in_one_app(settings), settings)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        threading.Event().wait(0.02)
    else:
        raise AssertionError("the live server did not become ready")
    yield Live(url=url, site_id=site_id, key=key, ingest_key=ingest_key, settings=settings)
    server.should_exit = True
    thread.join(timeout=30)
