"""The one background-loop shape: a pass at once, then one per interval, failures retried."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.tasks import periodic

pytestmark = pytest.mark.anyio


async def test_a_failing_pass_is_logged_and_retried_until_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    passes: list[int] = []

    async def one_pass() -> None:
        passes.append(len(passes))
        if len(passes) == 1:
            raise RuntimeError("database down")
        if len(passes) == 3:
            stop.set()

    with caplog.at_level(logging.ERROR, logger="overt.tasks"):
        await asyncio.wait_for(periodic(stop, interval=0.01, one_pass=one_pass, name="t"), 5)
    assert passes == [0, 1, 2]
    [record] = caplog.records
    assert record.getMessage() == "t pass failed; retrying at the next interval"


async def test_stop_ends_the_wait_at_once() -> None:
    stop = asyncio.Event()
    passes = 0

    async def one_pass() -> None:
        nonlocal passes
        passes += 1

    task = asyncio.create_task(periodic(stop, interval=3600, one_pass=one_pass, name="t"))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert passes == 1
