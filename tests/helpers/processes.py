"""Real `overt` processes for end-to-end tests, on loopback ports."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx

from shared.settings import Settings

READY_WITHIN = 90.0


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


async def start_overt(
    settings: Settings, port: int, log: Path, **env: str
) -> asyncio.subprocess.Process:
    """`overt up` in a child process (extra OVERT_* settings in `env`), once /readyz answers."""
    environment = overt_env(settings, port)
    environment.update({f"OVERT_{name.upper()}": value for name, value in env.items()})
    return await _start(["up"], environment, port, log)


async def start_service(
    settings: Settings, service: str, port: int, log: Path, **env: str
) -> asyncio.subprocess.Process:
    """`overt serve SERVICE` in a child process (extra OVERT_* settings in `env`), once ready."""
    environment = overt_env(settings, port)
    environment.update({f"OVERT_{name.upper()}": value for name, value in env.items()})
    return await _start(["serve", service], environment, port, log)


async def _start(
    args: list[str], env: dict[str, str], port: int, log: Path
) -> asyncio.subprocess.Process:
    with log.open("ab") as out:  # the child keeps its own descriptor
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            *args,
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            # Generous: several processes importing at once on a shared 2-CPU machine.
            async with asyncio.timeout(READY_WITHIN):
                while True:
                    if process.returncode is not None:
                        raise AssertionError(
                            f"overt {' '.join(args)} exited early:\n{log.read_text()}"
                        )
                    try:
                        if (await client.get("/readyz")).status_code == 200:
                            return process
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
    except BaseException:
        if process.returncode is None:  # never leave a half-started process behind
            process.kill()
            await process.wait()
        raise


async def start_all(
    starts: dict[str, Coroutine[Any, Any, asyncio.subprocess.Process]],
) -> dict[str, asyncio.subprocess.Process]:
    """Start several processes at once; if one fails, stop those that started, then raise."""
    names = list(starts)
    results = await asyncio.gather(*starts.values(), return_exceptions=True)
    started = {
        n: r for n, r in zip(names, results, strict=True) if not isinstance(r, BaseException)
    }
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        for process in started.values():
            process.kill()
            await process.wait()
        raise failures[0]
    return started


async def stop_overt(process: asyncio.subprocess.Process, signal_number: int) -> int:
    """Send a signal and wait (at most 30 s) for a clean exit; returns the exit code."""
    if process.returncode is None:
        process.send_signal(signal_number)
    return await asyncio.wait_for(process.wait(), 30)
