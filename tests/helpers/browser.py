"""Headless Chromium and a real `overt up` for the browser tests, and the pytest fixtures that
give them to a test (registered for every e2e module by tests/e2e/conftest.py).

Debian's Chromium at /usr/bin/chromium with the project's flags; `server` is `overt up` on a
loopback port for the `settings` backend, `page_origin` a static web server for the test
site on an origin of its own.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from shared.settings import Settings
from tests.helpers.backends import free_port, unavailable
from tests.helpers.processes import overt_env, start_overt, stop_overt

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]

DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)


@dataclass
class Server:
    base_url: str
    env: dict[str, str]
    log_path: Path
    settings: Settings

    def cli(self, *args: str) -> dict[str, str]:
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", *args, "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        result: dict[str, str] = json.loads(done.stdout)
        return result

    async def assertion_secret(self, site_id: str) -> bytes:
        """The site's identity-assertion secret, as `overt consent secret` prints it."""
        printing = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            "consent",
            "secret",
            "--site",
            site_id,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
        )
        printed = (await printing.communicate())[0].decode().strip()
        assert printing.returncode == 0
        return bytes.fromhex(printed)


@asynccontextmanager
async def overt_up(settings: Settings, tmp_path: Path, **env: str) -> AsyncIterator[Server]:
    """`overt up` for the block (extra OVERT_* settings in `env`), stopped cleanly after."""
    port = free_port()
    log_path = tmp_path / "overt.log"
    process = await start_overt(settings, port, log_path, **env)
    try:
        yield Server(
            base_url=f"http://127.0.0.1:{port}",
            env=overt_env(settings, port),
            log_path=log_path,
            settings=settings,
        )
    finally:
        # SIGTERM: uvicorn stops intake, the lifespan drains the worker, exit code 0.
        assert await stop_overt(process, signal.SIGTERM) == 0, log_path.read_text()


@pytest.fixture
async def server(settings: Settings, tmp_path: Path) -> AsyncIterator[Server]:
    async with overt_up(settings, tmp_path) as running:
        yield running


@pytest.fixture
def chromium() -> None:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        unavailable("Chromium at /usr/bin/chromium", "not installed (apt-get install chromium)")


@pytest.fixture
def page_origin(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static web server for the test site, on its own origin."""
    root = tmp_path / "site"
    root.mkdir()
    handler = partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
async def browser(chromium: None) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def stay_active(page: Page, seconds: float) -> None:
    """Real pointer input every 250 ms for `seconds`."""
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        step += 1
        await page.mouse.move(100 + 10 * (step % 2), 100 + step % 7)
        await asyncio.sleep(0.25)


def postgres_browser_runs_nightly(
    items: list[pytest.Item], *, under: Path, both: tuple[str, ...] = ()
) -> None:
    """A browser test's PostgreSQL + Redis run is nightly (`make nightly`); `make test` runs it
    on SQLite. Only tests under `under` (a conftest's hook sees every collected item); modules
    named in `both` keep both backends in `make test`."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("settings") == "postgres"
        browser_test = item.get_closest_marker("browser") is not None
        mine = item.path.is_relative_to(under) and item.path.name not in both
        if on_postgres and browser_test and mine:
            item.add_marker(pytest.mark.nightly)
