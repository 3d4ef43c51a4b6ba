"""Every difference between SQLite and PostgreSQL, in one place.

Queries elsewhere are written once with SQLAlchemy; whatever cannot be (bulk idempotent
inserts via COPY, insert-if-absent) lives here with both branches side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import orjson
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
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


async def insert_ignoring_duplicates(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> int:
    """Insert rows, skipping any whose primary key already exists; returns how many were new.

    PostgreSQL: COPY into a transaction-scoped staging table, then one
    INSERT ... SELECT ... ON CONFLICT DO NOTHING (COPY alone cannot skip duplicates).
    SQLite: INSERT OR IGNORE, executemany.
    """
    if not rows:
        return 0
    columns = list(rows[0].keys())
    if is_postgres(conn):
        stage = f"{table.name}_stage"
        await conn.execute(
            text(
                f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" '
                f'(LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
            )
        )
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        # COPY bypasses SQLAlchemy's type processing: JSON values go in as text.
        as_tuple = itemgetter(*columns)
        records = [as_tuple(row) for row in rows]
        for index, name in enumerate(columns):
            if isinstance(table.c[name].type, JSON):
                for position, row in enumerate(rows):
                    if row[name] is not None:
                        record = list(records[position])
                        record[index] = orjson.dumps(row[name]).decode()
                        records[position] = tuple(record)
        await driver.copy_records_to_table(stage, records=records, columns=columns)
        column_list = ", ".join(f'"{c}"' for c in columns)
        result = await conn.execute(
            text(
                f'INSERT INTO "{table.name}" ({column_list}) '
                f'SELECT {column_list} FROM "{stage}" ON CONFLICT DO NOTHING'
            )
        )
        return int(result.rowcount)
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    before = int(driver.total_changes)
    await conn.execute(sqlite.insert(table).prefix_with("OR IGNORE"), list(rows))
    return int(driver.total_changes) - before


async def insert_if_absent(conn: AsyncConnection, table: Table, row: Mapping[str, Any]) -> None:
    """Insert one row unless its primary key exists (a race-free 'create once')."""
    if is_postgres(conn):
        await conn.execute(postgresql.insert(table).values(**row).on_conflict_do_nothing())
    else:
        await conn.execute(sqlite.insert(table).values(**row).on_conflict_do_nothing())


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

    Both dialects speak INSERT ... ON CONFLICT (keys) DO UPDATE; only the construct differs.
    """
    if not rows:
        return
    statement = (postgresql.insert if is_postgres(conn) else sqlite.insert)(table)
    excluded = statement.excluded
    updates: dict[str, Any] = {name: table.c[name] + excluded[name] for name in add}
    updates.update({name: excluded[name] for name in replace})
    await conn.execute(
        statement.on_conflict_do_update(index_elements=list(keys), set_=updates), list(rows)
    )


async def existing_keys(
    conn: AsyncConnection, column: Column[Any], values: Sequence[Any]
) -> set[Any]:
    """Which of `values` are already in `column` (a unique key).

    Postgres: one `= ANY(array)` query. SQLite: IN lists in chunks under its parameter limit.
    """
    if not values:
        return set()
    if is_postgres(conn):
        array = bindparam("values", list(values), type_=postgresql.ARRAY(column.type))
        result = await conn.execute(select(column).where(column == any_(array)))
        return set(result.scalars().all())
    found: set[Any] = set()
    for start in range(0, len(values), 2000):
        chunk = values[start : start + 2000]
        found.update((await conn.execute(select(column).where(column.in_(chunk)))).scalars())
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
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    """Insert rows whose primary key is absent; return the primary keys that were new.

    Both dialects: INSERT ... ON CONFLICT DO NOTHING RETURNING (SQLite >= 3.35), sent by
    SQLAlchemy as multi-row VALUES batches.
    """
    if not rows:
        return []
    keys = list(table.primary_key.columns)
    statement = (postgresql.insert if is_postgres(conn) else sqlite.insert)(table)
    result = await conn.execute(statement.on_conflict_do_nothing().returning(*keys), list(rows))
    return [tuple(row) for row in result]
