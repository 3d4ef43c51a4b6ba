"""Real `overt` processes for end-to-end tests, on loopback ports."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from shared.settings import Settings


def overt_env(settings: Settings, port: int) -> dict[str, str]:
    """The environment that makes an `overt` process use these settings on this port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVERT_")}
    env.update(
        OVERT_DATABASE_URL=settings.database_url,
        OVERT_PORT=str(port),
        OVERT_REDIS_PREFIX=settings.redis_prefix,
        OVERT_LOG_FORMAT="json",
    )
    if settings.redis_url:
        env["OVERT_REDIS_URL"] = settings.redis_url
    if settings.secret_key:
        env["OVERT_SECRET_KEY"] = settings.secret_key.get_secret_value()
    return env


async def start_overt(settings: Settings, port: int, log: Path) -> asyncio.subprocess.Process:
    """`overt up` in a child process, returned once /readyz answers 200 (at most 30 s)."""
    with log.open("ab") as out:  # the child keeps its own descriptor
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            "up",
            env=overt_env(settings, port),
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        async with asyncio.timeout(30):
            while True:
                if process.returncode is not None:
                    raise AssertionError(f"overt up exited early:\n{log.read_text()}")
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return process
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)


async def stop_overt(process: asyncio.subprocess.Process, signal_number: int) -> int:
    """Send a signal and wait (at most 30 s) for a clean exit; returns the exit code."""
    if process.returncode is None:
        process.send_signal(signal_number)
    return await asyncio.wait_for(process.wait(), 30)
