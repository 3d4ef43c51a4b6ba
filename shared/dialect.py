"""Every difference between SQLite and PostgreSQL, in one place.

Queries elsewhere are written once with SQLAlchemy; whatever cannot be (bulk idempotent
inserts via COPY, insert-if-absent) lives here with both branches side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Column, Table, any_, bindparam, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import event_ids


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


async def claim_event_ids(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> set[Any]:
    """Register the rows' event ids; returns those that were new (the rows to store).

    One INSERT ... ON CONFLICT DO NOTHING RETURNING into `event_ids` (whose primary key is
    event_id alone), in the caller's transaction: a concurrent writer of the same id waits
    for it and then finds the id taken, and a rollback releases the ids again. Ids go in
    sorted, so two writers of overlapping batches lock them in the same order.
    Postgres: the ids and times as two arrays through unnest. SQLite: a multi-row insert.
    """
    if not rows:
        return set()
    pairs = sorted({row["event_id"]: row["occurred_at"] for row in rows}.items())
    if is_postgres(conn):
        result = await conn.execute(
            text(
                "INSERT INTO event_ids (event_id, occurred_at) "
                "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:times AS timestamptz[])) "
                "ON CONFLICT DO NOTHING RETURNING event_id"
            ),
            {"ids": [pair[0] for pair in pairs], "times": [pair[1] for pair in pairs]},
        )
        return set(result.scalars().all())
    claimed: set[Any] = set()
    for start in range(0, len(pairs), 400):  # 2 parameters a row, under SQLite's limit
        chunk = [{"event_id": i, "occurred_at": t} for i, t in pairs[start : start + 400]]
        statement = sqlite.insert(event_ids).values(chunk).on_conflict_do_nothing()
        result = await conn.execute(statement.returning(event_ids.c.event_id))
        claimed.update(result.scalars().all())
    return claimed


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
