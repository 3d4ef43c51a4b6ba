"""Publishing to the Redis stream: group commit on the flusher's own connection, which is
replaced when it breaks, and a clear QueueUnavailable when Redis cannot be reached."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
import pytest
from redis.asyncio import Redis

from shared.queue import QueueUnavailable, RedisStreamQueue
from shared.settings import Settings

pytestmark = pytest.mark.anyio


@dataclass
class Publishing:
    queue: RedisStreamQueue  # on a client whose connections carry `name` (to find, to kill)
    admin: Redis
    name: str
    stream: str


@pytest.fixture
async def publishing(postgres_settings: Settings) -> AsyncIterator[Publishing]:
    assert postgres_settings.redis_url
    name = f"overt-test-{uuid.uuid4().hex[:8]}"
    client = Redis.from_url(postgres_settings.redis_url, client_name=name)
    admin = Redis.from_url(postgres_settings.redis_url)
    prefix = postgres_settings.redis_prefix
    queue = RedisStreamQueue(client, prefix=prefix, consumer="c")
    yield Publishing(queue, admin, name, f"{prefix}:events")
    await queue.close()
    await client.aclose()
    await admin.aclose()


def events(*names: str) -> bytes:
    return orjson.dumps([{"id": uuid.uuid4().hex, "n": name} for name in names])


async def stored(admin: Redis, stream: str) -> list[str]:
    entries = await admin.xrange(stream) or []
    return [event["n"] for _, fields in entries for event in orjson.loads((fields or {})[b"p"])]


async def test_concurrent_publishes_share_entries_and_each_returns_once_stored(
    publishing: Publishing,
) -> None:
    queue, admin, stream = publishing.queue, publishing.admin, publishing.stream
    await asyncio.gather(*(queue.publish(events(f"e{n}", f"f{n}")) for n in range(50)))
    assert 1 <= await admin.xlen(stream) < 50  # merged into fewer entries
    assert sorted(await stored(admin, stream)) == sorted(
        name for n in range(50) for name in (f"e{n}", f"f{n}")
    )


async def test_a_killed_publisher_connection_is_replaced_without_losing_a_publish(
    publishing: Publishing,
) -> None:
    queue, admin, stream = publishing.queue, publishing.admin, publishing.stream
    await queue.publish(events("before"))
    clients = await admin.client_list()
    killed = [entry["id"] for entry in clients if entry["name"] == publishing.name]
    assert killed  # the flusher keeps its connection between flushes
    for client_id in killed:
        await admin.client_kill_filter(_id=client_id)

    await queue.publish(events("after"))  # the dead connection fails; a new one is used
    assert await stored(admin, stream) == ["before", "after"]


async def test_unreachable_redis_refuses_the_publish_with_queue_unavailable() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    queue = RedisStreamQueue(dead, prefix="overt-test-dead", consumer="c")
    with pytest.raises(QueueUnavailable):
        await queue.publish(events("lost"))
    await queue.close()
    await dead.aclose()


async def test_an_unexpected_flush_failure_reaches_every_waiting_publisher(
    publishing: Publishing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flusher that died of anything but a Redis error once left its publishers (and so
    their requests) waiting forever; they get the error instead."""
    queue = publishing.queue

    async def broken(*_: object) -> list[object]:
        raise RuntimeError("not a Redis error")

    monkeypatch.setattr(queue, "_publish_commands", broken)
    async with asyncio.timeout(5):
        results = await asyncio.gather(
            *(queue.publish(events(f"e{n}")) for n in range(3)), return_exceptions=True
        )
    assert [type(result) for result in results] == [RuntimeError] * 3


async def test_the_length_counts_up_between_xlens_and_is_asked_again_before_refusing(
    publishing: Publishing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Backpressure without an XLEN per flush: each entry added counts, so a full stream is
    refused at once; a worker that emptied it meanwhile is seen at the next XLEN."""
    queue, admin, stream = publishing.queue, publishing.admin, publishing.stream
    monkeypatch.setattr(queue, "_max_entries", 2)
    monkeypatch.setattr(queue, "LENGTH_RECHECK_SECONDS", 0.2)
    await queue.publish(events("a"))  # the first flush asks XLEN
    await queue.publish(events("b"))  # this one counts
    with pytest.raises(QueueUnavailable, match="full"):
        await queue.publish(events("refused"))
    assert await stored(admin, stream) == ["a", "b"]

    await admin.xtrim(stream, maxlen=0)  # a worker took both
    await asyncio.sleep(0.25)
    await queue.publish(events("c"))
    assert await stored(admin, stream) == ["c"]


async def test_a_redis_that_does_not_answer_in_time_refuses_with_queue_unavailable(
    postgres_settings: Settings,
) -> None:
    """One timeout covers a flush's write and replies (the client's socket timeout)."""
    assert postgres_settings.redis_url
    slow = Redis.from_url(postgres_settings.redis_url, socket_timeout=0.2)
    admin = Redis.from_url(postgres_settings.redis_url)
    queue = RedisStreamQueue(slow, prefix=f"overt-test-{uuid.uuid4().hex[:8]}", consumer="c")
    try:
        await queue.publish(events("first"))  # connected; XADD and XLEN answered
        await admin.client_pause(1000, all=False)  # writes only; ends by itself
        try:
            async with asyncio.timeout(5):
                with pytest.raises(QueueUnavailable, match="TimeoutError"):
                    await queue.publish(events("late"))
        finally:
            await admin.client_unpause()
        await queue.publish(events("after"))  # on a new connection
    finally:
        await admin.delete(*queue._streams)
        await queue.close()
        await slow.aclose()
        await admin.aclose()
