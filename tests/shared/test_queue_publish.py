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
