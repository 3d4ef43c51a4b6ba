"""Visitor affinity in the queue: a visitor's payloads travel in one slice's stream, a slice
given to a consumer is taken over at once, and leases share the slices fairly, hand a
surplus over, notice a lease lost, and fence writes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import orjson
import pytest
from redis.asyncio import Redis

from shared.queue import (
    LeaseLost,
    RedisStreamQueue,
    SliceLeases,
    stream_name,
    visitor_slice,
)
from shared.settings import Settings

pytestmark = pytest.mark.anyio

SLICES = 8


@pytest.fixture
async def redis(postgres_settings: Settings) -> AsyncIterator[Redis]:
    assert postgres_settings.redis_url
    client = Redis.from_url(postgres_settings.redis_url)
    yield client
    await client.aclose()


def queue(redis: Redis, settings: Settings, name: str) -> RedisStreamQueue:
    return RedisStreamQueue(redis, prefix=settings.redis_prefix, consumer=name, slices=SLICES)


def leases(redis: Redis, settings: Settings, name: str, ttl_ms: int = 3000) -> SliceLeases:
    return SliceLeases(
        redis, prefix=settings.redis_prefix, slices=SLICES, worker=name, ttl_ms=ttl_ms
    )


def test_a_visitor_has_one_slice_the_same_in_every_process() -> None:
    # Fixed values: the slice may not depend on anything a process picks (hash seeds).
    assert visitor_slice("site-a", 42, 16) == visitor_slice("site-a", 42, 16)
    site_crc32 = 0xCF02BB5C
    assert [visitor_slice("abc123", visitor, 16) for visitor in (0, 1, -7, 2**62)] == [
        (visitor + site_crc32) % 16 for visitor in (0, 1, -7, 2**62)
    ]
    # Visitors spread over the slices.
    assert {visitor_slice("abc123", visitor, 16) for visitor in range(64)} == set(range(16))


async def test_a_visitors_payloads_go_to_its_slice_and_only_its_reader_gets_them(
    redis: Redis, postgres_settings: Settings
) -> None:
    prefix = postgres_settings.redis_prefix
    publisher = queue(redis, postgres_settings, "collector")
    # Two sites: the publisher keeps each site's part of the slice, not one for all.
    visitors = [(site, visitor) for site in ("site-a", "site-b") for visitor in range(10)]
    for site, visitor in visitors:
        await publisher.publish(orjson.dumps([{"s": site, "v": visitor}]), visitor=(site, visitor))
    for index in range(SLICES):
        entries = await redis.xrange(stream_name(prefix, index)) or []
        held = {tuple(orjson.loads((fields or {})[b"p"])[0].values()) for _, fields in entries}
        assert held == {(s, v) for s, v in visitors if visitor_slice(s, v, SLICES) == index}

    reader = queue(redis, postgres_settings, "worker-1")
    reader.read_slices({3})
    got = await reader.consume(count=100, block_ms=50)
    assert {tuple(orjson.loads(d.payload)[0].values()) for d in got} == {
        (s, v) for s, v in visitors if visitor_slice(s, v, SLICES) == 3
    }
    assert {d.slice for d in got} <= {3}
    await reader.ack([d.id for d in got])
    assert await redis.xlen(stream_name(prefix, 3)) == 0
    assert await reader.depth() == len(visitors) - len(got)


async def test_a_slice_taken_over_hands_its_pending_entries_over_at_once(
    redis: Redis, postgres_settings: Settings
) -> None:
    """No idle time to wait: the lease says the reader before is gone."""
    before, after = (queue(redis, postgres_settings, name) for name in ("before", "after"))
    for consumer in (before, after):
        consumer.read_slices(())  # as a worker starts: nothing until leased
    visitor = ("site-a", 7)
    index = visitor_slice(*visitor, SLICES)
    await before.publish(b'[{"n": 1}]', visitor=visitor)
    before.read_slices({index})
    held = await before.consume(count=10, block_ms=50)
    assert len(held) == 1  # read, never acknowledged: the worker "died"

    after.read_slices({index})
    taken = await after.consume(count=10, block_ms=50)
    assert [d.id for d in taken] == [held[0].id]
    assert (await after.consumers())["after"] == 1


async def test_leases_are_shared_fairly_and_a_surplus_is_handed_over(
    redis: Redis, postgres_settings: Settings
) -> None:
    first = leases(redis, postgres_settings, "worker-a")
    await first.refresh()
    assert set(first.held) == set(range(SLICES))  # alone: every slice
    assert first.acquired == set(range(SLICES))

    second = leases(redis, postgres_settings, "worker-b")
    await second.refresh()
    assert second.held == {}  # all taken, it waits
    await first.refresh()  # now sees two workers: half of its slices are surplus
    assert len(first.surplus) == SLICES // 2
    assert first.readable() == set(first.held) - first.surplus
    await first.release(first.surplus)
    await second.refresh()
    assert set(second.held) == set(range(SLICES)) - set(first.held)
    assert len(first.held) == len(second.held) == SLICES // 2
    await first.close()
    await second.refresh()  # the first left: the second takes everything
    assert set(second.held) == set(range(SLICES))
    await second.close()


async def test_a_lease_lost_is_noticed_and_fences_writes(
    redis: Redis, postgres_settings: Settings
) -> None:
    mine = leases(redis, postgres_settings, "worker-a")
    await mine.refresh()
    mine.check({0, 1})  # held: no error
    # Another worker got slice 1 (our lease expired while we stalled).
    await redis.set(f"{postgres_settings.redis_prefix}:lease:1", "worker-b/x")
    await mine.refresh()
    assert 1 in mine.lost
    assert 1 not in mine.held
    with pytest.raises(LeaseLost):
        mine.check({0, 1})
    # A lease not renewed in time counts as lost for writing, before Redis says so.
    mine.held[0] = time.monotonic() - 0.001
    with pytest.raises(LeaseLost):
        mine.check({0})
    await mine.close()
    assert await redis.get(f"{postgres_settings.redis_prefix}:lease:1") == b"worker-b/x"


async def test_a_dead_workers_leases_expire_and_move(
    redis: Redis, postgres_settings: Settings
) -> None:
    dead = leases(redis, postgres_settings, "worker-dead", ttl_ms=300)
    await dead.refresh()
    alive = leases(redis, postgres_settings, "worker-alive", ttl_ms=300)
    async with asyncio.timeout(10):
        while len(alive.held) < SLICES:  # the dead one never renews again
            await alive.refresh()
            await asyncio.sleep(alive.interval)
    assert alive.acquired == set(range(SLICES))
    await alive.close()
