"""The bulk statements behind the ingest worker, on both dialects and on both of
PostgreSQL's paths (arrays for a few rows, a COPY-filled staging table for many)."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared import dialect
from shared.dialect import insert_new_returning, select_matching, update_rows, upsert
from shared.models import event_ids, page_hourly, sessions, visitor_days
from shared.runtime import Resources
from shared.sites import create_site

pytestmark = pytest.mark.anyio

HOUR = datetime(2026, 11, 24, 9, tzinfo=UTC)
ADD = ("pageviews", "engaged_ms", "entries", "visitors")
# Both sides of the PostgreSQL threshold (SQLite has one path; it runs both sizes too).
SIZES = (dialect.STAGE_ROWS - 1, dialect.STAGE_ROWS * 3)
MILLI = timedelta(milliseconds=1)


def hourly(site_id: str, paths: int, pageviews: int) -> list[dict[str, Any]]:
    return [
        {
            "site_id": site_id,
            "hour": HOUR,
            "path": f"/p{n}",
            "pageviews": pageviews,
            "engaged_ms": 10 * n,
            "entries": 1,
            "visitors": 0,
        }
        for n in range(paths)
    ]


async def add_hourly(
    conn: AsyncConnection,
    rows: list[dict[str, Any]],
    add: tuple[str, ...] = ADD,
    replace: tuple[str, ...] = (),
) -> None:
    await upsert(
        conn, page_hourly, rows, keys=["site_id", "hour", "path"], add=add, replace=replace
    )


async def page_counts(resources: Resources, site_id: str) -> dict[str, tuple[int, int, int]]:
    async with resources.engine.connect() as conn:
        result = await conn.execute(page_hourly.select().where(page_hourly.c.site_id == site_id))
        return {row.path: (row.pageviews, row.engaged_ms, row.entries) for row in result}


@pytest.mark.parametrize("size", SIZES)
async def test_upsert_adds_on_conflict_once_per_call_even_twice_in_one_transaction(
    resources: Resources, size: int
) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    async with resources.engine.begin() as conn:
        await add_hourly(conn, hourly(site.id, size, 2))
        # Same transaction, same staging table: the first call's rows must not come again.
        await add_hourly(conn, hourly(site.id, size, 3))
    async with resources.engine.begin() as conn:
        # Every other row with its keys in another order: each row is read by name.
        mixed = hourly(site.id, size + 1, 5)
        await add_hourly(
            conn, [dict(reversed(r.items())) if n % 2 else r for n, r in enumerate(mixed)]
        )

    counts = await page_counts(resources, site.id)
    assert len(counts) == size + 1
    assert counts["/p1"] == (10, 30, 3)
    assert counts[f"/p{size - 1}"] == (10, 30 * (size - 1), 3)
    assert counts[f"/p{size}"] == (5, 10 * size, 1)  # new in the last call only


@pytest.mark.parametrize("size", SIZES)
async def test_upsert_replaces_the_named_columns(resources: Resources, size: int) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    async with resources.engine.begin() as conn:
        await add_hourly(conn, hourly(site.id, size, 2))
    async with resources.engine.begin() as conn:
        await add_hourly(
            conn,
            hourly(site.id, size, 7),
            add=("entries",),
            replace=("pageviews", "engaged_ms", "visitors"),
        )
    counts = await page_counts(resources, site.id)
    assert set(counts.values()) == {(7, 10 * n, 2) for n in range(size)}


@pytest.mark.parametrize("size", SIZES)
async def test_insert_new_returning_returns_only_the_keys_that_were_absent(
    resources: Resources, size: int
) -> None:
    day = date(2026, 11, 24)
    first = [(day, "s1", n) for n in range(size)]
    second = [(day, "s1", n) for n in range(size // 2, size + size // 2)]
    async with resources.engine.begin() as conn:
        assert sorted(await insert_new_returning(conn, visitor_days, first)) == first
        new = await insert_new_returning(conn, visitor_days, second)
    assert sorted(new) == [key for key in second if key not in first]
    async with resources.engine.begin() as conn:
        assert await insert_new_returning(conn, visitor_days, second) == []


async def test_select_matching_reads_whole_rows_by_equal_any_and_at_least(
    resources: Resources,
) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    other = await create_site(engine=resources.engine, domain="example.org")

    def session(n: int, site_id: str, last_seen: datetime) -> dict[str, Any]:
        return {
            "session_id": uuid.UUID(int=n),
            "site_id": site_id,
            "visitor_hash": n % 100,
            "started_at": last_seen - timedelta(minutes=5),
            "last_seen_at": last_seen,
            "entry_path": "/",
            "exit_path": f"/exit{n}",
        }

    rows = [session(n, site.id, HOUR + timedelta(minutes=n % 3)) for n in range(200)]
    rows += [session(1000 + n, other.id, HOUR + timedelta(minutes=2)) for n in range(5)]
    async with resources.engine.begin() as conn:
        await upsert(conn, sessions, rows, keys=["session_id"])

    async with resources.engine.connect() as conn:
        found = await select_matching(
            conn,
            sessions,
            equal={"site_id": site.id},
            any_of=("visitor_hash", [1, 2, 4, 5, 99]),
            at_least={"last_seen_at": HOUR + timedelta(minutes=1)},
        )
        nothing = await select_matching(
            conn, sessions, equal={"site_id": site.id}, any_of=("visitor_hash", []), at_least={}
        )
    expected = {n for n in range(200) if n % 100 in (1, 2, 4, 5, 99) and n % 3 >= 1}
    assert {row["session_id"].int for row in found} == expected
    sample = next(row for row in found if row["session_id"].int == 1)
    assert sample["exit_path"] == "/exit1"
    assert sample["last_seen_at"] == HOUR + timedelta(minutes=1)
    assert sample["pageviews"] == 0  # whole rows, server defaults included
    assert nothing == []


@pytest.mark.parametrize("size", SIZES)
async def test_update_rows_overwrites_the_columns_sent_of_the_rows_named_only(
    resources: Resources, size: int
) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    ids = [uuid.uuid4() for _ in range(size + 1)]
    rows = [
        {
            "session_id": session_id,
            "site_id": site.id,
            "visitor_hash": n,
            "started_at": HOUR,
            "last_seen_at": HOUR,
            "entry_path": "/in",
            "exit_path": "/in",
            "pageviews": 1,
        }
        for n, session_id in enumerate(ids)
    ]
    async with resources.engine.begin() as conn:
        await upsert(conn, sessions, rows, keys=["session_id"])
    async with resources.engine.begin() as conn:
        await update_rows(
            conn,
            sessions,
            [
                {
                    "session_id": session_id,
                    "last_seen_at": HOUR + n * MILLI,
                    "exit_path": f"/out{n}",
                    "pageviews": n + 2,
                }
                for n, session_id in enumerate(ids[:size])  # the last one is left alone
            ],
            key="session_id",
        )
    async with resources.engine.connect() as conn:
        result = await conn.execute(select(sessions).where(sessions.c.site_id == site.id))
        stored = {row.session_id: row for row in result}
    for n, session_id in enumerate(ids[:size]):
        row = stored[session_id]
        assert (row.exit_path, row.pageviews, row.last_seen_at) == (
            f"/out{n}",
            n + 2,
            HOUR + n * MILLI,
        )
        assert (row.entry_path, row.visitor_hash) == ("/in", n)  # columns not sent: kept
    untouched = stored[ids[size]]
    assert (untouched.exit_path, untouched.pageviews) == ("/in", 1)


async def test_stamps_and_datetimes_store_the_same_moment(resources: Resources) -> None:
    """The worker's rows carry Stamps (asyncpg's tuple form of timestamptz); everything else
    binds datetimes. Both must store, and read back, the same aware UTC moment."""
    moment = datetime(2026, 11, 24, 9, 30, 15, 123000, tzinfo=UTC)
    ms = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert dialect.stamp_moment(dialect.stamp(ms)) == moment
    by_stamp, by_datetime = uuid.uuid4(), uuid.uuid4()
    async with resources.engine.begin() as conn:
        claimed = await dialect.claim_event_ids(
            conn, event_ids, [(by_stamp, dialect.stamp(ms), None)]
        )
        await conn.execute(
            event_ids.insert().values(event_id=by_datetime, occurred_at=moment, session_id=None)
        )
    assert claimed == 1
    async with resources.engine.connect() as conn:
        result = await conn.execute(select(event_ids.c.event_id, event_ids.c.occurred_at))
        stored = {row.event_id: row.occurred_at for row in result}
        later = (
            await conn.execute(
                select(event_ids.c.event_id).where(
                    event_ids.c.event_id.in_([by_stamp, by_datetime]),
                    event_ids.c.occurred_at > moment - MILLI,
                )
            )
        ).scalars()
    assert stored[by_stamp] == stored[by_datetime] == moment
    assert stored[by_stamp].tzinfo is not None
    assert set(later) == {by_stamp, by_datetime}


CLAIMS = ("event_id", "occurred_at", "session_id")


def claims(count: int) -> list[tuple[Any, Any, Any]]:
    start = (HOUR - datetime(1970, 1, 1, tzinfo=UTC)) // MILLI
    return [(uuid.uuid4().hex, dialect.stamp(start + n), None) for n in range(count)]


async def stream(resources: Resources, *slices: list[Any], fail: bool = False) -> None:
    """Hand `slices` to streaming_insert into event_ids, in one transaction; with `fail`,
    raise in its block after the last one."""
    async with (
        resources.engine.begin() as conn,
        dialect.streaming_insert(conn, event_ids, CLAIMS) as send,
    ):
        for rows in slices:
            await send(rows)
        if fail:
            raise RuntimeError("making the next slice failed")


async def stored_ids(resources: Resources) -> set[str]:
    async with resources.engine.connect() as conn:
        return {row.hex for row in (await conn.execute(select(event_ids.c.event_id))).scalars()}


async def test_streaming_insert_stores_every_slice_handed_over(resources: Resources) -> None:
    slices = [claims(1500), [], claims(1), claims(2500)]
    await stream(resources, *slices)
    assert await stored_ids(resources) == {row[0] for rows in slices for row in rows}


async def test_streaming_insert_stores_nothing_when_its_block_fails(
    resources: Resources,
) -> None:
    with pytest.raises(RuntimeError, match="making the next slice failed"):
        await stream(resources, claims(3000), fail=True)
    assert await stored_ids(resources) == set()
    # The connection went back to the pool usable: the next insert works.
    later = claims(10)
    await stream(resources, later)
    assert await stored_ids(resources) == {row[0] for row in later}


async def test_streaming_insert_raises_a_duplicate_key_its_rows_break(
    resources: Resources,
) -> None:
    first = claims(5)
    await stream(resources, first)
    again = [*claims(2000), first[2], *claims(2000)]
    with pytest.raises(Exception) as raised:  # asyncpg's error, or SQLAlchemy's
        await stream(resources, again[:1000], again[1000:])
    assert dialect.is_duplicate_key(raised.value)
    assert await stored_ids(resources) == {row[0] for row in first}


def test_sqlite_regexp_is_linear_time_re2() -> None:
    """Python's re takes minutes on this (nested quantifiers backtrack); RE2 does not."""
    conn = sqlite3.connect(":memory:")
    dialect.register_sqlite_functions(conn)
    found = conn.execute(
        "SELECT ? REGEXP ?, ? REGEXP ?, NULL REGEXP 'a'",
        ("/" + "a" * 40, r"^/(a+)+$", "/" + "a" * 40 + "/x", r"^/(a+)+$"),
    ).fetchone()
    assert found == (1, 0, None)
    with pytest.raises(sqlite3.OperationalError):  # not RE2 syntax: a refusal, never a hang
        conn.execute("SELECT 'aa' REGEXP ?", (r"(a)\1",)).fetchone()


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)", "[", "a{2000}"])
def test_compile_regex_refuses_what_re2_cannot_run(pattern: str) -> None:
    with pytest.raises(ValueError, match="regular expression"):
        dialect.compile_regex(pattern)


async def test_a_bounded_connection_stops_a_statement_past_its_deadline(
    resources: Resources,
) -> None:
    heavy = text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000) "
        "SELECT count(*) FROM n"
    )
    with pytest.raises(dialect.StatementTimeout):
        async with dialect.bounded_connection(resources.engine, 0.05) as conn:
            await conn.execute(heavy)
    # The connection goes back to the pool unbounded: the next statement is not cut short.
    async with resources.engine.connect() as conn:
        light = text(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) "
            "SELECT count(*) FROM n"
        )
        assert (await conn.execute(light)).scalar_one() == 200000
