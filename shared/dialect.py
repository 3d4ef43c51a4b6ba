"""The differences between SQLite and PostgreSQL in what statements do, in one place.

Queries elsewhere are written once with SQLAlchemy; whatever cannot be (bulk idempotent
inserts via COPY, insert-if-absent, upserts, time bucketing) lives here with both branches
side by side. Two modules branch on the backend for what is not a statement: `shared.db`
(connection setup: SQLite's pragmas, and the codecs and functions defined here) and
`shared.partitions` (only PostgreSQL partitions `events`; retention drops whole partitions
there and deletes rows on SQLite). The migrations branch too, for DDL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import re2
from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    DateTime,
    Table,
    Uuid,
    any_,
    bindparam,
    case,
    func,
    literal,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Select

CLAIM_COLUMNS = ("event_id", "occurred_at", "session_id")

# Moments in rows bound for streaming_insert and claim_event_ids: a `Stamp`, asyncpg's tuple form
# of timestamptz (microseconds since 2000-01-01 UTC), which the codec below passes to the
# wire as it is. asyncpg's own encoder takes a datetime through four Python-level datetime
# operations, several times the cost of a stamp, and a drained event carries two (its row and
# its id's claim). SQLite turns stamps back into datetimes (_sqlite_statement).
Stamp = tuple[int]
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
PG_EPOCH_MS = (PG_EPOCH - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
MICROSECOND = timedelta(microseconds=1)
_INFINITY, _NEGATIVE_INFINITY = 2**63 - 1, -(2**63)


def stamp(epoch_ms: int) -> Stamp:
    """Epoch milliseconds as a Stamp."""
    return ((epoch_ms - PG_EPOCH_MS) * 1000,)


def stamp_moment(value: Stamp) -> datetime:
    return PG_EPOCH + value[0] * MICROSECOND


def _encode_timestamptz(value: Any) -> Stamp:
    if value.__class__ is tuple:
        return value
    if not isinstance(value, datetime):  # a date: its midnight, as asyncpg reads one
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:  # local time, as asyncpg reads a naive datetime
        value = value.astimezone(UTC)
    return ((value - PG_EPOCH) // MICROSECOND,)


def _decode_timestamptz(value: Stamp) -> datetime:
    microseconds = value[0]
    if microseconds == _INFINITY:  # as asyncpg's own decoder answers infinities
        return datetime.max.replace(tzinfo=UTC)
    if microseconds == _NEGATIVE_INFINITY:
        return datetime.min.replace(tzinfo=UTC)
    return PG_EPOCH + microseconds * MICROSECOND


async def register_postgres_codecs(driver: asyncpg.Connection) -> None:
    """timestamptz in asyncpg's tuple format, on every connection: Stamps go to the wire as
    they are, datetimes as before (through Python, at about the speed of asyncpg's own
    encoder), and reads give the same aware UTC datetimes."""
    await driver.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=_encode_timestamptz,
        decoder=_decode_timestamptz,
        format="tuple",
    )


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


class _Abort(Exception):
    """Ends a streamed COPY without its rows: the caller failed while making them."""


@asynccontextmanager
async def streaming_insert(
    conn: AsyncConnection, table: Table, columns: Sequence[str]
) -> AsyncIterator[Callable[[Sequence[Sequence[Any]]], Awaitable[None]]]:
    """Insert rows handed over slice by slice (tuples in `columns` order, JSON columns as
    JSON text), while the caller makes the next slice. For rows whose uniqueness the caller
    settles before it commits (see claim_event_ids); a unique key of `table` the rows break
    raises (is_duplicate_key). Yields `send(rows)`; every row is sent when the block ends,
    or none of them if it raises (the caller's transaction is then rolled back).

    PostgreSQL: one binary COPY, in a task that reads the slices as they come. `send` hands
    a slice over and lets the task send it, so Postgres stores one slice while this process
    makes the next, where a COPY of the whole batch would start only once all of it is made
    (Postgres's time for a large batch is then overlapped). SQLite: executemany at the end.
    """
    driver = await _driver(conn)
    if not is_postgres(conn):
        pending: list[Sequence[Any]] = []

        async def keep(rows: Sequence[Sequence[Any]]) -> None:
            pending.extend(rows)

        yield keep
        if pending:
            await _sqlite_insert(conn, table, columns, pending)
        return

    slices: asyncio.Queue[Sequence[Sequence[Any]] | None] = asyncio.Queue()

    async def source() -> AsyncIterator[Sequence[Any]]:
        while (rows := await slices.get()) is not None:
            for row in rows:
                yield row
        if failed:
            raise _Abort()  # asyncpg answers an exception from its source with CopyFail

    failed = False
    copy = asyncio.create_task(
        driver.copy_records_to_table(table.name, records=source(), columns=list(columns))
    )

    async def send(rows: Sequence[Sequence[Any]]) -> None:
        if copy.done():
            copy.result()  # it failed: raise its error, nothing more to send
        slices.put_nowait(rows)
        await asyncio.sleep(0)  # the COPY task runs: encodes and sends the slice

    try:
        yield send
    except BaseException:
        failed = True
        slices.put_nowait(None)
        with suppress(Exception, asyncio.CancelledError):
            await copy
        raise
    slices.put_nowait(None)
    await copy


@lru_cache(maxsize=64)
def _sqlite_statement(
    dialect: Dialect, table: Table, columns: tuple[str, ...], verb: str
) -> tuple[str, list[Any]]:
    """INSERT text with positional parameters, and each column's bind processor (None where
    a value goes in as it is). The processors are SQLAlchemy's own for this dialect, so the
    stored form (UUID hex, datetime text) is the one its reads expect. JSON columns take
    their JSON text as is."""
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    marks = ", ".join("?" for _ in columns)
    processors = []
    for name in columns:
        kind = table.c[name].type
        process = (
            None if isinstance(kind, JSON) else kind.dialect_impl(dialect).bind_processor(dialect)
        )
        if isinstance(getattr(kind, "impl", kind), DateTime) and process is not None:
            process = _from_stamp(process)
        if isinstance(kind, Uuid) and process is not None:
            process = _from_hex(process)
        processors.append(process)
    return f"{verb} INTO {quote(table.name)} ({names}) VALUES ({marks})", processors


def _from_stamp(process: Any) -> Any:
    """A datetime column's bind processor that also takes Stamps."""

    def bind(value: Any) -> Any:
        return process(stamp_moment(value) if value.__class__ is tuple else value)

    return bind


def _from_hex(process: Any) -> Any:
    """A uuid column's bind processor that also takes an id's 32 lowercase hex digits (the
    ingest worker's event ids), which are the stored form already."""

    def bind(value: Any) -> Any:
        return value if value.__class__ is str else process(value)

    return bind


async def _sqlite_insert(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    records: Sequence[Sequence[Any]],
    *,
    verb: str = "INSERT",
) -> None:
    """executemany straight to the driver: SQLAlchemy's per-row parameter handling was the
    drain's largest cost on SQLite; this is a tuple per row."""
    sql, processors = _sqlite_statement(conn.dialect, table, tuple(columns), verb)
    converting = [(index, p) for index, p in enumerate(processors) if p is not None]
    rows = []
    for record in records:
        row = list(record)
        for index, process in converting:
            value = row[index]
            if value is not None:
                row[index] = process(value)
        rows.append(tuple(row))
    await conn.exec_driver_sql(sql, rows)


async def insert_if_absent(conn: AsyncConnection, table: Table, row: Mapping[str, Any]) -> bool:
    """Insert one row unless its primary key exists (a race-free 'create once'); True if new."""
    insert = postgresql.insert if is_postgres(conn) else sqlite.insert
    result = await conn.execute(insert(table).values(**row).on_conflict_do_nothing())
    return bool(result.rowcount)


async def erase_rows(conn: AsyncConnection, table: Table) -> None:
    """Remove every row of `table`, inside the caller's transaction, so that none can be
    read back from the database's files.

    PostgreSQL: TRUNCATE, which gives the table a new empty file and unlinks the old one at
    commit. A DELETE would leave dead tuples, and even VACUUM FULL copies a dead tuple while
    any open transaction might still see it. SQLite: a DELETE with secure_delete, which
    zeroes what it frees; `flush_erased` after the commit moves the zeroed pages from the
    WAL into the file and empties the WAL.
    """
    if is_postgres(conn):
        await conn.exec_driver_sql(f'TRUNCATE "{table.name}"')
        return
    await conn.exec_driver_sql("PRAGMA secure_delete = ON")
    await conn.execute(table.delete())
    await conn.exec_driver_sql("PRAGMA secure_delete = OFF")


async def flush_erased(engine: AsyncEngine) -> None:
    """After erase_rows has committed: on SQLite, a TRUNCATE checkpoint (nothing to do on
    PostgreSQL, where the old file is gone)."""
    async with engine.connect() as conn:
        if not is_postgres(conn):
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


async def upsert(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    add: Sequence[str] = (),
    replace: Sequence[str] = (),
) -> None:
    """Insert rows (all with the same keys); on a key conflict add the `add` columns and
    overwrite the `replace` ones.

    Both dialects speak INSERT ... ON CONFLICT (keys) DO UPDATE. PostgreSQL gets every row in
    one statement: a few rows as one array per column (INSERT ... SELECT FROM unnest(...)),
    where a multi-row VALUES list costs SQLAlchemy a compile and bind per row; many
    rows through a staging table (see _insert_on_conflict). SQLite: the statement through
    SQLAlchemy, executemany.
    """
    if not rows:
        return
    if is_postgres(conn):
        columns = tuple(rows[0].keys())
        pick = itemgetter(*columns)  # in `columns` order; a tuple from two columns on
        records = [pick(row) if len(columns) > 1 else (pick(row),) for row in rows]
        shape = (table, columns, tuple(keys), tuple(add), tuple(replace))
        await _insert_on_conflict(await _driver(conn), shape, records)
        return
    statement = sqlite.insert(table)
    excluded = statement.excluded
    updates: dict[str, Any] = {name: table.c[name] + excluded[name] for name in add}
    updates.update({name: excluded[name] for name in replace})
    if not updates:
        await conn.execute(statement.on_conflict_do_nothing(index_elements=list(keys)), list(rows))
        return
    await conn.execute(
        statement.on_conflict_do_update(index_elements=list(keys), set_=updates), list(rows)
    )


_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


# From this many rows on, PostgreSQL bulk statements read their rows from a staging table
# filled by COPY instead of from one array per column: asyncpg checks every array element
# against collections.abc (isinstance in Python, for each of a session row's many columns),
# where COPY encodes each tuple in C. Below it, the array form saves two round trips.
STAGE_ROWS = 64


async def _driver(conn: AsyncConnection) -> Any:
    """The driver's own connection (asyncpg, aiosqlite), in the caller's transaction.

    SQLAlchemy's asyncpg adapter opens the database transaction with its first statement;
    statements sent straight to asyncpg before that would each commit on their own (and a
    staging table would be emptied between its COPY and its INSERT)."""
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    if is_postgres(conn) and conn.in_transaction() and not driver.is_in_transaction():
        await conn.exec_driver_sql("SELECT 1")
    return driver


@lru_cache(maxsize=64)
def _stage_sql(table: Table, columns: tuple[str, ...]) -> tuple[str, str, str]:
    """The staging table for these columns of `table`: its name, its DDL, and the row source
    that empties it."""
    names = ", ".join(f'"{name}"' for name in columns)
    stage = f"overt_stage_{table.name}_{zlib.crc32(names.encode()):08x}"
    ddl = (
        f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ON COMMIT DELETE ROWS '
        f'AS SELECT {names} FROM "{table.name}" WITH NO DATA'
    )
    return stage, ddl, f'(DELETE FROM "{stage}" RETURNING {names})'


async def _stage(
    driver: Any, table: Table, columns: tuple[str, ...], records: Sequence[Sequence[Any]]
) -> str:
    """COPY rows into this connection's staging table for `columns` of `table` (a temporary
    table, created once per connection, emptied at every commit); returns the row source
    that takes them out again, so a second use in one transaction starts empty."""
    stage, ddl, source = _stage_sql(table, columns)
    await driver.execute(ddl)
    await driver.copy_records_to_table(stage, records=records, columns=list(columns))
    return source


UpsertShape = tuple[Table, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]


async def _insert_on_conflict(
    driver: Any,
    shape: UpsertShape,
    records: Sequence[Sequence[Any]],
    *,
    returning: bool = False,
) -> list[Any]:
    """PostgreSQL: INSERT `records` (tuples in the shape's column order) ... ON CONFLICT, as
    one statement: from a staging table from STAGE_ROWS rows on, else one array parameter
    per column. `shape`: table, columns, conflict keys, columns to add, columns to replace.
    With `returning`, the rows inserted (their columns)."""
    table, columns = shape[0], shape[1]
    if len(records) >= STAGE_ROWS:
        staged = await _stage(driver, table, columns, records)
        return list(await driver.fetch(_upsert_sql(*shape, staged, returning)))
    arrays = [list(values) for values in zip(*records, strict=True)]
    return list(await driver.fetch(_upsert_sql(*shape, None, returning), *arrays))


@lru_cache(maxsize=64)
def _upsert_sql(
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    add: tuple[str, ...],
    replace: tuple[str, ...],
    staged: str | None = None,
    returning: bool = False,
) -> str:
    """INSERT ... ON CONFLICT from one array parameter per column, or from a staging table's
    row source; with `returning`, RETURNING the columns."""
    names = ", ".join(f'"{name}"' for name in columns)
    if staged is None:
        arrays = ", ".join(
            f"${i}::{table.c[name].type.compile(dialect=_PG)}[]"
            for i, name in enumerate(columns, 1)
        )
        head = f'INSERT INTO "{table.name}" ({names}) SELECT * FROM unnest({arrays})'
    else:
        head = f'WITH staged AS {staged} INSERT INTO "{table.name}" ({names}) SELECT * FROM staged'
    sets = [f'"{n}" = "{table.name}"."{n}" + EXCLUDED."{n}"' for n in add]
    sets += [f'"{n}" = EXCLUDED."{n}"' for n in replace]
    action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
    conflict = ", ".join(f'"{name}"' for name in keys)
    tail = f" RETURNING {names}" if returning else ""
    return f"{head} ON CONFLICT ({conflict}) {action}{tail}"


async def update_rows(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str,
) -> None:
    """Overwrite the other columns of the rows (all with the same columns) whose `key` they
    name; rows known to exist. Cheaper than an upsert: no insert tried, only the columns
    that change sent. PostgreSQL: one UPDATE ... FROM the rows (a staging table from
    STAGE_ROWS rows on, else one array per column); SQLite: executemany."""
    if not rows:
        return
    columns = tuple(rows[0].keys())
    if is_postgres(conn):
        pick = itemgetter(*columns)
        records = [pick(row) for row in rows]
        driver = await _driver(conn)
        if len(records) >= STAGE_ROWS:
            staged = await _stage(driver, table, columns, records)
            await driver.execute(_update_sql(table, columns, key, staged))
        else:
            arrays = [list(values) for values in zip(*records, strict=True)]
            await driver.execute(_update_sql(table, columns, key, None), *arrays)
        return
    statement = (
        update(table)
        .where(table.c[key] == bindparam(f"_{key}"))
        .values({name: bindparam(name) for name in columns if name != key})
    )
    await conn.execute(statement, [{**row, f"_{key}": row[key]} for row in rows])


@lru_cache(maxsize=16)
def _update_sql(table: Table, columns: tuple[str, ...], key: str, staged: str | None) -> str:
    names = ", ".join(f'"{name}"' for name in columns)
    if staged is None:
        arrays = ", ".join(
            f"${i}::{table.c[name].type.compile(dialect=_PG)}[]"
            for i, name in enumerate(columns, 1)
        )
        source = f"(SELECT * FROM unnest({arrays}) AS u ({names}))"
    else:
        source = staged
    sets = ", ".join(f'"{name}" = changed."{name}"' for name in columns if name != key)
    return (
        f'WITH changed AS {source} UPDATE "{table.name}" SET {sets} '
        f'FROM changed WHERE "{table.name}"."{key}" = changed."{key}"'
    )


def in_clauses(
    conn: AsyncConnection, column: ColumnElement[Any], values: Sequence[Any]
) -> list[ColumnElement[bool]]:
    """`column IN values` as few clauses as the dialect allows; run one query per clause.

    Postgres: one `= ANY(array)` (a single bound array, however many values). SQLite: IN
    lists in chunks under its bound-parameter limit.
    """
    if not values:
        return []
    if is_postgres(conn):
        array = bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return [column == any_(array)]
    return [column.in_(values[start : start + 2000]) for start in range(0, len(values), 2000)]


async def select_matching(
    conn: AsyncConnection,
    table: Table,
    *,
    equal: Mapping[str, Any],
    any_of: tuple[str, Sequence[Any]],
    at_least: Mapping[str, Any],
) -> list[Mapping[str, Any]]:
    """Whole rows of `table` whose `equal` columns equal their values, whose `any_of` column
    holds one of its values, and whose `at_least` columns are at or above theirs.

    PostgreSQL: one statement straight on the driver, rows decoded in C (asyncpg records);
    SQLAlchemy's result processing costs Python work per column of a session row, and the
    ingest worker reads one per visitor of every batch. SQLite: SQLAlchemy, IN lists in chunks.
    """
    column, values = any_of
    if not values:
        return []
    if is_postgres(conn):
        sql = _select_matching_sql(table, tuple(equal), column, tuple(at_least))
        driver = await _driver(conn)
        return list(await driver.fetch(sql, *equal.values(), list(values), *at_least.values()))
    conditions = [table.c[name] == value for name, value in equal.items()]
    conditions += [table.c[name] >= value for name, value in at_least.items()]
    found: list[Any] = []
    for clause in in_clauses(conn, table.c[column], values):
        result = await conn.execute(select(table).where(*conditions, clause))
        found.extend(result.mappings().all())
    return found


@lru_cache(maxsize=16)
def _select_matching_sql(
    table: Table, equal: tuple[str, ...], column: str, at_least: tuple[str, ...]
) -> str:
    names = ", ".join(f'"{c.name}"' for c in table.columns)
    conditions = [f'"{name}" = ${i}' for i, name in enumerate(equal, 1)]
    array = table.c[column].type.compile(dialect=_PG)
    conditions.append(f'"{column}" = ANY(${len(conditions) + 1}::{array}[])')
    conditions += [f'"{name}" >= ${i}' for i, name in enumerate(at_least, len(conditions) + 1)]
    return f'SELECT {names} FROM "{table.name}" WHERE {" AND ".join(conditions)}'


async def claim_event_ids(
    conn: AsyncConnection, register: Table, claims: Sequence[tuple[Any, Any, Any]]
) -> int:
    """Register (event_id, occurred_at, session_id) triples in `register` (the event_ids
    table); returns how many were new.

    `event_ids` holds the one unique index over event_id alone (a partitioned `events`
    cannot); claims in id order cost its btree far fewer page visits (callers sort them).
    In the caller's transaction: a concurrent writer of the same id waits for it, then
    finds the id taken; a rollback releases the ids again.
    The claim is how a batch learns that some of its events are stored already: the worker
    prepares a batch without looking its ids up, so a taken id is usually an event stored
    before (a redelivery after a crash, a client's resend), sometimes a concurrent writer's.
    Either way fewer than all is the answer, and the caller rolls back and prepares the
    batch again, verified against this register.
    Postgres: COPY inside a savepoint; one taken id fails it, 0 is returned and nothing is
    kept. Several times faster here than INSERT ... SELECT FROM unnest ... ON CONFLICT.
    SQLite: INSERT OR IGNORE, counting the rows it added.
    """
    if not claims:
        return 0
    driver = await _driver(conn)
    if is_postgres(conn):
        try:
            async with conn.begin_nested():
                await driver.copy_records_to_table(
                    register.name, records=claims, columns=list(CLAIM_COLUMNS)
                )
        except asyncpg.UniqueViolationError:
            return 0  # some were taken: the caller prepares its batch again
        return len(claims)
    before = int(driver.total_changes)
    await _sqlite_insert(conn, register, CLAIM_COLUMNS, claims, verb="INSERT OR IGNORE")
    return int(driver.total_changes) - before


def is_duplicate_key(exc: BaseException) -> bool:
    """Whether `exc` is a unique or primary key violation, on either database."""
    orig = getattr(exc, "orig", None) or exc  # the driver's error, inside SQLAlchemy's
    if getattr(orig, "sqlstate", None) == asyncpg.UniqueViolationError.sqlstate:
        return True
    return getattr(orig, "sqlite_errorname", "") in {
        "SQLITE_CONSTRAINT_PRIMARYKEY",
        "SQLITE_CONSTRAINT_UNIQUE",
    }


# SQLSTATE classes of a database that is unwell rather than of a row it refuses: connection
# (08), transaction rollback (40: serialisation, deadlock), insufficient resources (53),
# program limits (54), object state (55: lock not available), operator intervention (57:
# shutdown, statement timeout), system error (58), internal error (XX).
_UNWELL_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "54", "55", "57", "58", "XX"})
# SQLite's result codes for the same: busy or locked, I/O, full, cannot open, out of memory...
_UNWELL_SQLITE_CODES = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_CANTOPEN",
    "SQLITE_NOMEM",
    "SQLITE_READONLY",
    "SQLITE_CORRUPT",
    "SQLITE_PROTOCOL",
    "SQLITE_INTERRUPT",
    "SQLITE_NOTADB",
)


def root_error(exc: BaseException) -> BaseException:
    """The driver's own error under SQLAlchemy's wrappers (and a driver adapter's)."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "orig", None) or exc.__cause__
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return exc


def is_data_fault(exc: BaseException) -> bool:
    """Whether a failed write may be the fault of what was written, not of the database.

    False for what says the database (or the way to it) is unwell: a lost or refused
    connection, a timeout, a lock, a full disk, a shutdown, on either dialect; those are
    retried. True for anything else (a value out of range, a refused character, a check or
    trigger, a payload that does not decode): worth isolating the entry that fails alone.
    Deciding is the caller's: an entry is a dead letter only if it fails alone while the
    database otherwise answers.
    """
    if getattr(exc, "connection_invalidated", False):
        return False
    root = root_error(exc)
    for error in (exc, root):
        if isinstance(error, OSError | TimeoutError | asyncio.CancelledError):
            return False
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and len(sqlstate) == 5:
            return sqlstate[:2] not in _UNWELL_SQLSTATE_CLASSES
        code = getattr(error, "sqlite_errorname", None)
        if isinstance(code, str):
            return not code.startswith(_UNWELL_SQLITE_CODES)
    if isinstance(root, asyncpg.InterfaceError) and not isinstance(root, ValueError):
        return False  # "connection is closed", "another operation is in progress"...
    return not isinstance(root, asyncpg.PostgresConnectionError)


async def existing_keys(
    conn: AsyncConnection, column: Column[Any], values: Sequence[Any]
) -> set[Any]:
    """Which of `values` are already in `column` (a unique key)."""
    found: set[Any] = set()
    for clause in in_clauses(conn, column, values):
        found.update((await conn.execute(select(column).where(clause))).scalars())
    return found


def append_only_ddl(dialect_name: str, table: str) -> list[str]:
    """DDL that makes the database refuse UPDATE and DELETE of `table`'s rows.

    PostgreSQL: a row trigger raising an exception (TRUNCATE, used by tests and by an
    operator dropping a whole deployment, fires no row trigger), and the privileges taken
    from PUBLIC. SQLite: BEFORE UPDATE / BEFORE DELETE triggers that abort.
    """
    if dialect_name == "postgresql":
        return [
            f"""CREATE FUNCTION "{table}_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END $$""",
            f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
            f'FOR EACH ROW EXECUTE FUNCTION "{table}_append_only"()',
            f'REVOKE UPDATE, DELETE ON "{table}" FROM PUBLIC',
        ]
    return [
        f'CREATE TRIGGER "{table}_no_update" BEFORE UPDATE ON "{table}" '
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END",
        f'CREATE TRIGGER "{table}_no_delete" BEFORE DELETE ON "{table}" '
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END",
    ]


def drop_append_only_ddl(dialect_name: str, table: str) -> list[str]:
    """The reverse of `append_only_ddl` (for downgrades)."""
    if dialect_name == "postgresql":
        return [
            f'DROP TRIGGER IF EXISTS "{table}_append_only" ON "{table}"',
            f'DROP FUNCTION IF EXISTS "{table}_append_only"()',
        ]
    return [
        f'DROP TRIGGER IF EXISTS "{table}_no_update"',
        f'DROP TRIGGER IF EXISTS "{table}_no_delete"',
    ]


# Local-time buckets: "2026-03-01T13:00" (hour), "2026-03-01" (day), the Monday of the week
# (week), "2026-03" (month), in the site's IANA zone.
_PG_BUCKET_FORMATS = {
    "hour": 'YYYY-MM-DD"T"HH24:00',
    "day": "YYYY-MM-DD",
    "week": "YYYY-MM-DD",
    "month": "YYYY-MM",
}


def local_time_bucket(
    dialect_name: str, column: ColumnElement[Any], unit: str, timezone: str
) -> ColumnElement[str]:
    """The local `unit` bucket of a UTC timestamp column, as text.

    PostgreSQL: to_char(date_trunc(unit, timezone(zone, ts))). SQLite has no time zones, so
    a Python function (`overt_local_bucket`, registered on connect by `register_sqlite_functions`)
    does the same with zoneinfo.
    """
    if unit not in _PG_BUCKET_FORMATS:
        raise ValueError(f"unknown time unit {unit!r}")
    if dialect_name == "postgresql":
        local = func.timezone(literal(timezone), column)
        return func.to_char(
            func.date_trunc(literal(unit), local), literal(_PG_BUCKET_FORMATS[unit])
        )
    return func.overt_local_bucket(column, literal(unit), literal(timezone))


def json_text(dialect_name: str, column: ColumnElement[Any], key: str) -> ColumnElement[Any]:
    """A JSON object column's value at `key` as text, the same on both databases: numbers as
    written (3, 2.5), booleans as true / false, NULL when absent. PostgreSQL's ->> does
    this; SQLite's json_extract gives 1 / 0 for booleans, so they are spelled out."""
    value: ColumnElement[Any] = column[key].as_string()
    if dialect_name == "postgresql":
        return value
    kind = func.json_type(column, literal(f'$."{key}"'))
    return case((kind == "true", literal("true")), (kind == "false", literal("false")), else_=value)


def json_object_keys(
    dialect_name: str, table: Table, column: ColumnElement[Any], *where: ColumnElement[bool]
) -> Select[Any]:
    """The distinct top-level keys of a JSON object column over the rows `where` selects,
    in order (PostgreSQL's json_object_keys, SQLite's json_each)."""
    if dialect_name == "postgresql":
        objects = (*where, func.json_typeof(column) == "object")
        keys = select(func.json_object_keys(column).label("key")).where(*objects).subquery()
        return select(keys.c.key).distinct().order_by(keys.c.key)
    each = func.json_each(column).table_valued("key").alias("each")
    return (
        select(each.c.key)
        .select_from(table.join(each, true()))
        .where(*where, func.json_type(column) == "object")
        .distinct()
        .order_by(each.c.key)
    )


def seconds_between(
    dialect_name: str, start: ColumnElement[Any], end: ColumnElement[Any]
) -> ColumnElement[Any]:
    """Seconds from one UTC timestamp column to another, as a number (fractions kept)."""
    if dialect_name == "postgresql":
        return func.extract("epoch", end - start)
    # julianday's float days are off by microseconds: rounded to the millisecond (the
    # precision of stored event times), so that sums and means of whole seconds are exact.
    return func.round((func.julianday(end) - func.julianday(start)) * 86_400_000.0) / 1000.0


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def sqlite_local_bucket(stored: str | None, unit: str, timezone: str) -> str | None:
    """`overt_local_bucket` for SQLite: a stored naive-UTC timestamp's local bucket."""
    if stored is None:
        return None
    moment = datetime.fromisoformat(stored).replace(tzinfo=UTC).astimezone(_zone(timezone))
    if unit == "hour":
        return moment.strftime("%Y-%m-%dT%H:00")
    if unit == "day":
        return moment.strftime("%Y-%m-%d")
    if unit == "week":
        return (moment.date() - timedelta(days=moment.weekday())).isoformat()
    return moment.strftime("%Y-%m")


# --- regular expressions from outside ---------------------------------------------------------
# A caller's pattern runs in RE2, whose time is linear in the text: no pattern backtracks.
# Python's `re` (which SQLAlchemy registers as SQLite's REGEXP) can take hours on a 40-
# character path, holding the GIL, so one query stalled every request of the process.
# PostgreSQL's `~` has its own engine: patterns are checked with RE2 where they come in, and
# the statement timeout of `bounded_connection` bounds what PostgreSQL makes of them.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # RE2 would print the refused pattern to stderr


@lru_cache(maxsize=256)
def compile_regex(pattern: str) -> Any:
    """`pattern` compiled by RE2; ValueError when RE2 cannot run it (a backreference, a
    lookaround, a repeat over 1000, or not a regular expression)."""
    try:
        return re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"not a regular expression RE2 runs ({reason})") from None


def sqlite_regexp(pattern: str | None, value: str | None) -> bool | None:
    """SQLite's `value REGEXP pattern`: an RE2 search (NULL in, NULL out)."""
    if pattern is None or value is None:
        return None
    return compile_regex(pattern).search(value) is not None


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Functions SQLite lacks and queries use. REGEXP replaces the one SQLAlchemy registers
    (Python's `re.search`) with RE2's (see compile_regex)."""
    dbapi_connection.create_function(
        "overt_local_bucket", 3, sqlite_local_bucket, deterministic=True
    )
    dbapi_connection.create_function("regexp", 2, sqlite_regexp, deterministic=True)


# --- deadlines -------------------------------------------------------------------------------


class StatementTimeout(Exception):
    """A statement ran past the deadline of its bounded_connection."""


def is_statement_timeout(exc: BaseException) -> bool:
    """Whether `exc` is a statement stopped by its deadline, on either database."""
    orig = getattr(exc, "orig", None) or exc
    if getattr(orig, "sqlstate", None) == asyncpg.QueryCanceledError.sqlstate:
        return True
    return getattr(orig, "sqlite_errorname", "") == "SQLITE_INTERRUPT"


# SQLite calls the progress handler every this many virtual machine instructions.
_PROGRESS_STEPS = 10_000


@asynccontextmanager
async def bounded_connection(engine: AsyncEngine, seconds: float) -> AsyncIterator[AsyncConnection]:
    """A connection whose statements stop once `seconds` have passed (StatementTimeout), in a
    transaction that is rolled back at the end (for reads).

    PostgreSQL: `statement_timeout`, set for this transaction only (SET LOCAL), each statement
    bounded by itself. SQLite: a progress handler that interrupts any statement once the
    deadline, counted from here, has passed; removed before the connection goes back to the
    pool.
    """
    async with engine.connect() as conn:
        try:
            if is_postgres(conn):
                milliseconds = max(1, round(seconds * 1000))
                await conn.execute(
                    text("SELECT set_config('statement_timeout', :value, true)"),
                    {"value": f"{milliseconds}ms"},
                )
                yield conn
                return
            driver = await _driver(conn)
            deadline = time.monotonic() + seconds
            await driver.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
            try:
                yield conn
            finally:
                with suppress(sqlite3.Error, ValueError):
                    await driver.set_progress_handler(None, 0)
        except DBAPIError as exc:
            if is_statement_timeout(exc):
                raise StatementTimeout() from exc
            raise


async def insert_new_returning(
    conn: AsyncConnection, table: Table, keys: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Insert primary keys (tuples in the key's column order) that are absent; return the new.

    Postgres: one INSERT ... ON CONFLICT DO NOTHING RETURNING (see _insert_on_conflict).
    SQLite: INSERT ... ON CONFLICT DO NOTHING RETURNING (>= 3.35), sent by
    SQLAlchemy as multi-row VALUES batches.
    """
    if not keys:
        return []
    columns = [column.name for column in table.primary_key.columns]
    if is_postgres(conn):
        names = tuple(columns)
        shape = (table, names, names, (), ())
        rows = await _insert_on_conflict(await _driver(conn), shape, keys, returning=True)
        return [tuple(row) for row in rows]
    statement = sqlite.insert(table).on_conflict_do_nothing()
    rows = [dict(zip(columns, key, strict=True)) for key in keys]
    result = await conn.execute(statement.returning(*table.primary_key.columns), rows)
    return [tuple(row) for row in result]
