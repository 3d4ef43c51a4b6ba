"""Every difference between SQLite and PostgreSQL, in one place.

Queries elsewhere are written once with SQLAlchemy; whatever cannot be (bulk idempotent
inserts via COPY, insert-if-absent) lives here with both branches side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Table,
    any_,
    bindparam,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

CLAIM_COLUMNS = ("event_id", "occurred_at", "session_id")


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


async def bulk_insert(
    conn: AsyncConnection, table: Table, columns: Sequence[str], records: Sequence[Sequence[Any]]
) -> None:
    """Insert rows given as tuples in `columns` order (JSON columns as JSON text).

    For rows whose uniqueness the caller has already settled (see claim_event_ids).
    PostgreSQL: COPY (binary). SQLite: executemany.
    """
    if not records:
        return
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    if is_postgres(conn):
        await driver.copy_records_to_table(table.name, records=records, columns=list(columns))
        return
    await _sqlite_insert(conn, table, columns, records)


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
    processors = [
        None
        if isinstance(table.c[name].type, JSON)
        else table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        for name in columns
    ]
    return f"{verb} INTO {quote(table.name)} ({names}) VALUES ({marks})", processors


async def _sqlite_insert(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    records: Sequence[Sequence[Any]],
    *,
    verb: str = "INSERT",
) -> None:
    """executemany straight to the driver: SQLAlchemy's per-row parameter handling cost
    46 us an event (the drain's largest cost on SQLite); this is a tuple per row."""
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


async def upsert(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    add: Sequence[str] = (),
    replace: Sequence[str] = (),
) -> None:
    """Insert rows; on a key conflict add the `add` columns and overwrite the `replace` ones.

    Both dialects speak INSERT ... ON CONFLICT (keys) DO UPDATE. PostgreSQL gets every row in
    one statement as one array per column (INSERT ... SELECT FROM unnest(...)): asyncpg
    encodes arrays in C, where a multi-row VALUES list costs SQLAlchemy ~10 µs per row to
    compile and bind. SQLite: the same statement through SQLAlchemy, executemany.
    """
    if not rows:
        return
    if is_postgres(conn):
        columns = list(rows[0].keys())
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        arrays = [[row[name] for row in rows] for name in columns]
        sql = _unnest_upsert_sql(table, tuple(columns), tuple(keys), tuple(add), tuple(replace))
        await driver.execute(sql, *arrays)
        return
    statement = sqlite.insert(table)
    excluded = statement.excluded
    updates: dict[str, Any] = {name: table.c[name] + excluded[name] for name in add}
    updates.update({name: excluded[name] for name in replace})
    await conn.execute(
        statement.on_conflict_do_update(index_elements=list(keys), set_=updates), list(rows)
    )


_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


@lru_cache(maxsize=64)
def _unnest_upsert_sql(
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    add: tuple[str, ...],
    replace: tuple[str, ...],
) -> str:
    arrays = ", ".join(
        f"${i}::{table.c[name].type.compile(dialect=_PG)}[]" for i, name in enumerate(columns, 1)
    )
    names = ", ".join(f'"{name}"' for name in columns)
    sets = [f'"{n}" = "{table.name}"."{n}" + EXCLUDED."{n}"' for n in add]
    sets += [f'"{n}" = EXCLUDED."{n}"' for n in replace]
    action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
    conflict = ", ".join(f'"{name}"' for name in keys)
    return (
        f'INSERT INTO "{table.name}" ({names}) SELECT * FROM unnest({arrays}) '
        f"ON CONFLICT ({conflict}) {action}"
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


async def claim_event_ids(
    conn: AsyncConnection, register: Table, claims: Sequence[tuple[Any, Any, Any]]
) -> int:
    """Register (event_id, occurred_at, session_id) triples in `register` (the event_ids
    table); returns how many were new.

    `event_ids` holds the one unique index over event_id alone (a partitioned `events`
    cannot). In the caller's transaction: a concurrent writer of the same id waits for it,
    then finds the id taken; a rollback releases the ids again.
    Postgres: COPY inside a savepoint (callers have already dropped the ids they saw
    stored, so a duplicate means a concurrent writer: 0 is returned, nothing is kept, and
    the caller prepares again). Claiming 200k ids took 0.6 s this way against 2.45 s with
    INSERT ... SELECT FROM unnest ... ON CONFLICT here. SQLite: INSERT OR IGNORE, sorted.
    """
    if not claims:
        return 0
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
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
    await _sqlite_insert(
        conn,
        register,
        CLAIM_COLUMNS,
        sorted(claims, key=lambda claim: claim[0].int),
        verb="INSERT OR IGNORE",
    )
    return int(driver.total_changes) - before


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


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Functions SQLite lacks and queries use (REGEXP is registered by SQLAlchemy itself,
    on the pysqlite/aiosqlite dialect, with Python's `re.search`)."""
    dbapi_connection.create_function(
        "overt_local_bucket", 3, sqlite_local_bucket, deterministic=True
    )


async def insert_new_returning(
    conn: AsyncConnection, table: Table, keys: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Insert primary keys (tuples in the key's column order) that are absent; return the new.

    Postgres: one INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING RETURNING, an
    array per column. SQLite: INSERT ... ON CONFLICT DO NOTHING RETURNING (>= 3.35), sent by
    SQLAlchemy as multi-row VALUES batches.
    """
    if not keys:
        return []
    columns = [column.name for column in table.primary_key.columns]
    if is_postgres(conn):
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        arrays = [list(values) for values in zip(*keys, strict=True)]
        sql = _unnest_upsert_sql(table, tuple(columns), tuple(columns), (), ())
        names = ", ".join(f'"{name}"' for name in columns)
        return [tuple(row) for row in await driver.fetch(f"{sql} RETURNING {names}", *arrays)]
    statement = sqlite.insert(table).on_conflict_do_nothing()
    rows = [dict(zip(columns, key, strict=True)) for key in keys]
    result = await conn.execute(statement.returning(*table.primary_key.columns), rows)
    return [tuple(row) for row in result]
