"""Every difference between SQLite and PostgreSQL, in one place.

Queries elsewhere are written once with SQLAlchemy; whatever cannot be (bulk idempotent
inserts via COPY, insert-if-absent) lives here with both branches side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import JSON, Table, text
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
        json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
        records = [
            tuple(
                orjson.dumps(row[c]).decode()
                if c in json_columns and row[c] is not None
                else row[c]
                for c in columns
            )
            for row in rows
        ]
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
