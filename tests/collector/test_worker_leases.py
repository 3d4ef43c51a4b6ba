"""The ingest loop and its leases: lease changes are applied between batches, never at the
cost of a batch that failed meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.collector.worker import Carry, IngestLoop, StagedBatch
from shared.queue import Delivery, RedisStreamQueue
from shared.runtime import Resources, open_resources
from shared.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def resources(postgres_settings: Settings) -> AsyncIterator[Resources]:
    """Leases are Redis's (the in-process queue has one consumer and none)."""
    async with open_resources(postgres_settings) as opened:
        yield opened


async def test_a_batch_failing_while_leases_change_is_written_first(
    resources: Resources,
) -> None:
    loop = IngestLoop(resources, asyncio.Event())
    assert loop.leases is not None
    deliveries = [Delivery("3/1-0", b"[]", 3)]

    async def failing_write() -> int:
        raise ConnectionError("database went away")

    loop.writing = (
        asyncio.create_task(failing_write()),
        StagedBatch(deliveries, None, [], [], [], [], Carry()),
    )
    loop.leases.held[3] = float("inf")
    loop.leases.acquired = {5}  # a change to apply before the next read

    assert await loop.read()
    assert loop.batch == deliveries  # back in front, not replaced by a new read
    assert loop.leases.acquired == {5}  # applied once the batch is written


async def test_the_first_read_already_has_slices_to_read(resources: Resources) -> None:
    """The first lease round comes before the first read: a read with no slice to read
    would wait its whole block for nothing (a start, or a test, a quarter second late)."""
    stop = asyncio.Event()
    loop = IngestLoop(resources, stop)
    queue = resources.queue
    assert isinstance(queue, RedisStreamQueue)
    first: list[tuple[int, ...]] = []
    consume = queue.consume

    async def watched(*, count: int, block_ms: int) -> list[Delivery]:
        if not first:
            first.append(queue._reading)
            stop.set()
        return await consume(count=count, block_ms=block_ms)

    assert loop.leases is not None
    refresh = loop.leases.refresh

    async def slow_refresh() -> None:  # slower than the start's first fold of the log
        await asyncio.sleep(0.3)
        await refresh()

    queue.consume = watched  # type: ignore[method-assign]
    loop.leases.refresh = slow_refresh  # type: ignore[method-assign]
    await asyncio.wait_for(loop.run(), timeout=30)
    assert first
    assert len(first[0]) == queue.slices  # the only worker: every slice


async def test_stopping_ends_a_read_waiting_on_an_empty_queue(settings: Settings) -> None:
    """A stop does not wait for the read in progress to return: here one that never would."""
    async with open_resources(settings) as resources:
        stop = asyncio.Event()
        waiting = asyncio.Event()
        ended: list[BaseException] = []

        async def endless(*, count: int, block_ms: int) -> list[Delivery]:
            waiting.set()
            try:
                await asyncio.Event().wait()
            except BaseException as exc:
                ended.append(exc)
                raise
            return []

        resources.queue.consume = endless  # type: ignore[method-assign]
        worker = asyncio.create_task(IngestLoop(resources, stop).run())
        await asyncio.wait_for(waiting.wait(), timeout=30)
        stop.set()
        await asyncio.wait_for(worker, timeout=30)  # before: waited on the read for ever
        assert len(ended) == 1
        assert isinstance(ended[0], asyncio.CancelledError)
