"""A dead consumer's pending entries are taken over, and the dead consumer leaves the group."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.queue import Delivery, RedisStreamQueue
from shared.settings import Settings

pytestmark = pytest.mark.anyio

IDLE_MS = 200


@pytest.fixture
async def redis(postgres_settings: Settings) -> AsyncIterator[Redis]:
    assert postgres_settings.redis_url
    client = Redis.from_url(postgres_settings.redis_url)
    yield client
    await client.aclose()


def queue(redis: Redis, settings: Settings, name: str) -> RedisStreamQueue:
    return RedisStreamQueue(
        redis, prefix=settings.redis_prefix, consumer=name, claim_idle_ms=IDLE_MS
    )


async def consume_until(
    consumer: RedisStreamQueue, wanted: int, timeout: float = 10.0
) -> list[Delivery]:
    """Consume (as a worker loop does) until `wanted` deliveries came, at most `timeout` s."""
    got: list[Delivery] = []
    async with asyncio.timeout(timeout):
        while len(got) < wanted:
            got += await consumer.consume(count=100, block_ms=50)
    return got


async def test_pending_entries_of_a_dead_consumer_are_claimed_then_it_is_removed(
    redis: Redis, postgres_settings: Settings
) -> None:
    dead = queue(redis, postgres_settings, "worker-dead")
    alive = queue(redis, postgres_settings, "worker-alive")
    payloads = [orjson.dumps([{"n": i}]) for i in range(5)]
    for payload in payloads:
        await dead.publish(payload)
    taken = await dead.consume(count=100, block_ms=50)  # read, then the process "dies"
    assert len(taken) == 5
    assert await alive.consumers() == {"worker-dead": 5}

    claimed = await consume_until(alive, 5)

    assert sorted(d.id for d in claimed) == sorted(d.id for d in taken)
    assert sorted(d.payload for d in claimed) == sorted(payloads)
    assert (await alive.consumers())["worker-alive"] == 5
    await alive.ack([d.id for d in claimed])
    assert await alive.depth() == 0
    # The dead consumer has nothing pending now: after the idle time it leaves the group.
    async with asyncio.timeout(10):
        while "worker-dead" in await alive.consumers():
            await alive.consume(count=100, block_ms=50)
    assert await alive.consumers() == {"worker-alive": 0}


async def test_a_consumer_with_pending_entries_is_never_removed(
    redis: Redis, postgres_settings: Settings
) -> None:
    slow = queue(redis, postgres_settings, "worker-slow")
    other = queue(redis, postgres_settings, "worker-other")
    await slow.publish(b'[{"n": 1}]')
    held = await slow.consume(count=10, block_ms=50)
    assert len(held) == 1
    await asyncio.sleep(IDLE_MS * 2 / 1000)  # idle long enough to be forgotten if empty
    await other._forget_idle_consumers()
    assert await other.consumers() == {"worker-slow": 1}

    # Claimed by the other worker once idle, the slow one's late ack still counts.
    claimed = await consume_until(other, 1)
    assert [d.id for d in claimed] == [held[0].id]
    await slow.ack([held[0].id])
    assert (await other.consumers())["worker-other"] == 0
    assert await other.depth() == 0


async def test_a_stream_lost_with_its_group_is_recreated(
    redis: Redis, postgres_settings: Settings
) -> None:
    """Redis restarted without persistence: the group is gone; the worker makes it again."""
    worker = queue(redis, postgres_settings, "worker-1")
    assert await worker.consume(count=10, block_ms=10) == []
    await redis.delete(f"{postgres_settings.redis_prefix}:events")
    await worker.publish(b'[{"n": 2}]')  # XADD makes the stream again, without the group
    with pytest.raises(ResponseError, match="NOGROUP"):
        await worker.consume(count=10, block_ms=10)
    again = await worker.consume(count=10, block_ms=10)
    assert [d.payload for d in again] == [b'[{"n": 2}]']
