"""Background loops: one shape for every periodic pass a process runs beside its routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("overt.tasks")


async def periodic(
    stop: asyncio.Event,
    *,
    interval: float,
    one_pass: Callable[[], Awaitable[object]],
    name: str,
) -> None:
    """Run `one_pass` at once, then every `interval` seconds, until `stop` is set.

    A pass that raises is logged (its exception type and traceback, never its arguments)
    and the loop goes on: the next interval retries. A pass in flight when `stop` is set is
    finished, not cancelled, so a background task drains like a request does.
    """
    while True:
        try:
            await one_pass()
        except Exception:
            log.exception("%s pass failed; retrying at the next interval", name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        if stop.is_set():
            return
