"""A batch the database refuses for its data does not stop ingestion: the event that fails
alone goes to the dead letter, everything else is stored once; a database that is down
dead-letters nothing. `overt deadletter` lists, shows, replays and drops. Both backends."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.cli import main
from services.collector.deadletter import (
    drop_dead_letters,
    list_dead_letters,
    replay_dead_letters,
)
from services.collector.faults import by_visitor, split_payload
from services.collector.worker import run_ingest
from shared.db import create_engine
from shared.deadletter import open_dead_letters
from shared.dialect import is_data_fault
from shared.metrics import REGISTRY
from shared.models import events
from shared.queue import InProcessQueue
from shared.runtime import Resources, open_resources
from shared.settings import Settings
from shared.sites import Site, create_site
from tests.helpers.backends import free_port
from tests.helpers.overt import wait_drained

pytestmark = pytest.mark.anyio

POISON = "/poison"


def record(site: Site, path: str = "/", **fields: object) -> dict[str, object]:
    return {
        "id": uuid.uuid4().hex,
        "site": site.id,
        "at": int(datetime.now(UTC).timestamp() * 1000),
        "name": "pageview",
        "visitor": 42,
        "host": site.domain,
        "path": path,
        **fields,
    }


@asynccontextmanager
async def poisoned(engine: AsyncEngine) -> AsyncIterator[None]:
    """A trigger that refuses any `events` row whose path is POISON, as a CHECK would: a
    data fault on one row, provoked the same way on both dialects."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION overt_test_poison() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.path = '{POISON}' THEN RAISE EXCEPTION 'poisoned row' "
                    "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$ "
                    "LANGUAGE plpgsql"
                )
            )
            await conn.execute(
                text(
                    "CREATE TRIGGER overt_test_poison BEFORE INSERT ON events "
                    "FOR EACH ROW EXECUTE FUNCTION overt_test_poison()"
                )
            )
        else:
            await conn.execute(
                text(
                    "CREATE TRIGGER overt_test_poison BEFORE INSERT ON events "
                    f"WHEN NEW.path = '{POISON}' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
                )
            )
    try:
        yield
    finally:
        await cure(engine)


async def cure(engine: AsyncEngine) -> None:
    """Drop the poison trigger (the operator's fix)."""
    async with engine.begin() as conn:
        on = " ON events" if conn.dialect.name == "postgresql" else ""
        await conn.execute(text(f"DROP TRIGGER IF EXISTS overt_test_poison{on}"))


async def stored_paths(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(events.c.event_id, events.c.path))).all()
    return {row.event_id.hex: row.path for row in rows}


async def publish_all(resources: Resources, payloads: list[bytes]) -> list[asyncio.Task[None]]:
    """Publish; in-process publishers wait for the worker, so they run as tasks."""
    if isinstance(resources.queue, InProcessQueue):
        tasks = [asyncio.ensure_future(resources.queue.publish(p)) for p in payloads]
        async with asyncio.timeout(5):
            while await resources.queue.depth() < len(payloads):
                await asyncio.sleep(0.01)
        return tasks
    for payload in payloads:
        await resources.queue.publish(payload)
    return []


@asynccontextmanager
async def worker(resources: Resources) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(resources, stop))
    try:
        yield
    finally:
        stop.set()
        await task


def dead_letter_count(error_type: str) -> float:
    value = REGISTRY.get_sample_value("overt_ingest_dead_letters_total", {"reason": error_type})
    return value or 0.0


async def test_one_bad_event_is_dead_lettered_and_the_rest_stored(
    resources: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    good = [[record(site, f"/{entry}-{n}") for n in range(3)] for entry in range(6)]
    poison = record(site, POISON)
    # One entry with the poisoned event between two good ones; one whose visitor hash no
    # 64-bit column holds (orjson will not encode it: the stdlib will).
    mixed = [record(site, "/before"), poison, record(site, "/after")]
    overflow = record(site, "/overflow", visitor=2**70)
    payloads = [orjson.dumps(entry) for entry in good[:3]]
    payloads += [orjson.dumps(mixed), json.dumps([overflow]).encode()]
    payloads += [orjson.dumps(entry) for entry in good[3:]]
    expected = {str(r["id"]): str(r["path"]) for entry in good for r in entry}
    expected |= {str(r["id"]): str(r["path"]) for r in mixed if r is not poison}

    caplog.set_level(logging.INFO, logger="overt")
    async with poisoned(resources.engine):
        publishing = await publish_all(resources, payloads)
        async with worker(resources):
            await wait_drained(resources.queue)
        await asyncio.gather(*publishing)  # in-process: every publisher was answered

        assert await stored_paths(resources.engine) == expected  # each once, none missing
        dead = await list_dead_letters(resources=resources)
        by_event = {
            str(json.loads(entry.payload)[0]["id"]): entry
            for entry in dead
            if len(json.loads(entry.payload)) == 1
        }
        assert set(by_event) == {poison["id"], overflow["id"]}
        assert len(dead) == 2
        assert "poisoned row" in by_event[str(poison["id"])].error
        assert json.loads(by_event[str(overflow["id"])].payload)[0]["visitor"] == 2**70
        assert dead_letter_count(by_event[str(poison["id"])].error_type) >= 1
    # The log says that and where, never what: no path, no visitor hash, no error text.
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "dead-lettered" in logged
    for secret in (POISON, str(2**70), "poisoned row", "/before"):
        assert secret not in logged

    # Fixed (the trigger dropped), the poisoned event is replayed and stored; the overflow
    # still fails and stays.
    async with worker(resources):
        report = await replay_dead_letters(resources=resources)
        await wait_drained(resources.queue)
    if isinstance(resources.queue, InProcessQueue):
        assert report.replayed == [by_event[str(poison["id"])].id]
        assert list(report.failed) == [by_event[str(overflow["id"])].id]
    else:  # published again: the worker dead-letters the overflow once more (same id)
        assert sorted(report.replayed) == sorted(entry.id for entry in dead)
    stored = await stored_paths(resources.engine)
    assert stored == expected | {str(poison["id"]): POISON}
    left = await list_dead_letters(resources=resources)
    assert [entry.id for entry in left] == [by_event[str(overflow["id"])].id]
    assert await drop_dead_letters(resources=resources) == 1
    assert await list_dead_letters(resources=resources) == []


async def test_the_same_dead_letter_is_kept_once(resources: Resources) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    payload = json.dumps([record(site, visitor=2**70)]).encode()
    async with worker(resources):
        for _ in range(2):  # a redelivery (a worker that crashed before acknowledging)
            await resources.queue.publish(payload)  # in-process: answered once dead-lettered
            await wait_drained(resources.queue)
    assert len(await list_dead_letters(resources=resources)) == 1
    assert await stored_paths(resources.engine) == {}


async def test_an_undecodable_entry_is_dead_lettered_whole(resources: Resources) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    good = record(site, "/good")
    payloads = [b'[{"id": "not hex", "site": 1}]', b"{not json", orjson.dumps([good])]
    publishing = await publish_all(resources, payloads)
    async with worker(resources):
        await wait_drained(resources.queue)
    await asyncio.gather(*publishing)
    assert await stored_paths(resources.engine) == {str(good["id"]): "/good"}
    assert sorted(e.payload for e in await list_dead_letters(resources=resources)) == sorted(
        payloads[:2]
    )


async def test_a_database_that_is_down_dead_letters_nothing(
    resources: Resources, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    if resources.settings.is_sqlite:  # a directory where the database file should be
        (tmp_path / "gone.db").mkdir()
        down = f"sqlite+aiosqlite:///{tmp_path}/gone.db"
    else:  # nothing listens there: connection refused
        down = f"postgresql+asyncpg://overt@127.0.0.1:{free_port()}/overt"
    dead_engine = create_engine(replace_url(resources.settings, down))
    caplog.set_level(logging.WARNING, logger="overt")
    publishing = await publish_all(resources, [json.dumps([record(site, visitor=2**70)]).encode()])
    try:
        unwell = Resources(
            settings=resources.settings,
            engine=dead_engine,
            queue=resources.queue,
            redis=resources.redis,
            revocations=resources.revocations,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(run_ingest(unwell, stop))
        async with asyncio.timeout(20):  # until the worker has backed off twice
            while sum("batch write failed" in r.getMessage() for r in caplog.records) < 2:
                await asyncio.sleep(0.05)
        stop.set()
        if isinstance(resources.queue, InProcessQueue):
            for publisher in publishing:
                publisher.cancel()
            await resources.queue.close()  # the in-process worker drains until closed
        await asyncio.wait_for(task, 30)
    finally:
        await dead_engine.dispose()
    assert not any("dead-lettered" in r.getMessage() for r in caplog.records)
    assert await open_dead_letters(resources).entries() == []
    if not isinstance(resources.queue, InProcessQueue):
        assert await resources.queue.depth() == 1  # still owed to the database


def replace_url(settings: Settings, url: str) -> Settings:
    return settings.model_copy(update={"database_url": url})


def test_data_faults_are_told_from_a_database_that_is_down() -> None:
    assert is_data_fault(OverflowError("Python int too large to convert to SQLite INTEGER"))
    assert not is_data_fault(ConnectionRefusedError(111, "refused"))
    assert not is_data_fault(TimeoutError())


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(records=st.lists(JSON_VALUES, max_size=6))
def test_splitting_keeps_every_record_as_it_was(records: list[object]) -> None:
    payload = json.dumps(records).encode()
    pieces = split_payload(payload)
    if len(records) < 2:
        assert pieces == []
    else:
        assert [json.loads(piece) for piece in pieces] == [[record] for record in records]


@settings(derandomize=True, max_examples=150, deadline=None)
@given(payload=st.binary(max_size=200))
def test_splitting_any_bytes_never_raises(payload: bytes) -> None:
    assert all(piece.startswith(b"[") for piece in split_payload(payload))


def test_an_entry_splits_into_its_records_as_they_came() -> None:
    payload = b'[{"id":"a","visitor":1180591620717411303424},{"id":"b","p":"\\u0000"}]'
    pieces = split_payload(payload)
    assert [json.loads(piece) for piece in pieces] == [[r] for r in json.loads(payload)]
    assert split_payload(b'[{"id":"a"}]') == []  # one record: nothing to split
    assert split_payload(b"[" * 100_000) == []  # hostile nesting is not a crash


# `overt deadletter` on both backends.


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [n for n in os.environ if n.startswith("OVERT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OVERT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OVERT_LOG_FORMAT", "text")
    monkeypatch.setenv("OVERT_REDIS_PREFIX", settings.redis_prefix)
    if settings.redis_url:
        monkeypatch.setenv("OVERT_REDIS_URL", settings.redis_url)
    if settings.secret_key:
        monkeypatch.setenv("OVERT_SECRET_KEY", settings.secret_key.get_secret_value())
    return settings


async def _dead_letter_two(settings: Settings) -> tuple[Site, list[dict[str, object]]]:
    """Two events dead-lettered by a worker: a poisoned one and an overflowing one."""
    async with open_resources(settings) as resources:
        site = await create_site(engine=resources.engine, domain="example.com")
        bad = [record(site, POISON), record(site, "/overflow", visitor=2**70)]
        async with poisoned(resources.engine):
            publishing = await publish_all(resources, [json.dumps([r]).encode() for r in bad])
            async with worker(resources):
                await wait_drained(resources.queue)
            await asyncio.gather(*publishing)
    return site, bad


def test_deadletter_commands(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _, bad = asyncio.run(_dead_letter_two(cli_env))
    capsys.readouterr()
    assert main(["deadletter", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 2
    assert {entry["events"] for entry in listed} == {1}
    poisoned_id = next(e["id"] for e in listed if "poisoned row" in e["error"])
    overflow_id = next(e["id"] for e in listed if e["id"] != poisoned_id)

    assert main(["deadletter", "show", poisoned_id]) == 0
    shown = capsys.readouterr().out
    assert "poisoned row" in shown  # the error
    assert POISON in shown  # and the event's fields
    assert str(bad[0]["id"]) in shown
    assert main(["deadletter", "show", "f" * 32]) == 1
    assert "no dead letter" in capsys.readouterr().err

    # The cause is gone (the trigger dropped with `poisoned`): replay stores it.
    if cli_env.redis_url:  # published to the stream: a worker stores it
        assert main(["deadletter", "replay", poisoned_id]) == 0
        asyncio.run(_drain(cli_env))
    else:  # stored by the command itself
        assert main(["deadletter", "replay", poisoned_id]) == 0
    assert f"replayed {poisoned_id}" in capsys.readouterr().out
    assert POISON in asyncio.run(_stored(cli_env)).values()
    assert main(["deadletter", "replay", poisoned_id]) == 1  # gone from the dead letter
    capsys.readouterr()

    if not cli_env.redis_url:  # a replay that still fails keeps it, and says so
        assert main(["deadletter", "replay", "--all"]) == 1
        assert f"{overflow_id} still fails" in capsys.readouterr().err
    assert main(["deadletter", "drop", overflow_id]) == 0
    assert "dropped 1" in capsys.readouterr().out
    assert main(["deadletter", "drop", "--all"]) == 0
    assert "dropped 0" in capsys.readouterr().out
    assert main(["deadletter", "list"]) == 0
    assert capsys.readouterr().out == ""


async def _drain(settings: Settings) -> None:
    async with open_resources(settings) as resources, worker(resources):
        await wait_drained(resources.queue)


async def _stored(settings: Settings) -> dict[str, str]:
    engine = create_engine(settings)
    try:
        return await stored_paths(engine)
    finally:
        await engine.dispose()


def test_a_replayed_entry_goes_back_one_visitor_at_a_time() -> None:
    """Replay publishes each visitor's records with that visitor, so affinity holds for them."""
    one = {"site": "s1", "visitor": 7, "id": "a" * 32}
    other = {"site": "s1", "visitor": -3, "id": "b" * 32}
    parts = by_visitor(json.dumps([one, other, {**one, "id": "c" * 32}]).encode())
    assert [(json.loads(part), key) for part, key in parts] == [
        ([one, {**one, "id": "c" * 32}], ("s1", 7)),
        ([other], ("s1", -3)),
    ]
    assert by_visitor(b"not json") == [(b"not json", None)]
    assert by_visitor(b'[{"site": 1}]') == [(b'[{"site": 1}]', None)]
