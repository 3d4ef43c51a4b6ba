"""Every difference between SQLite and PostgreSQL, in one place.

Queries elsewhere are written once with SQLAlchemy; whatever cannot be (bulk idempotent
inserts via COPY, insert-if-absent) lives here with both branches side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, text
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
        await driver.copy_records_to_table(
            stage, records=[tuple(row[c] for c in columns) for row in rows], columns=columns
        )
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
