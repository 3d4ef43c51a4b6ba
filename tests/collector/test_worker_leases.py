"""The ingest loop and its leases: lease changes are applied between batches, never at the
cost of a batch that failed meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.collector.worker import Carry, IngestLoop, StagedBatch
from shared.queue import Delivery
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
