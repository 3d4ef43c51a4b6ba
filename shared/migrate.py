"""Run the Alembic history (the schema) against the configured database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.sql.schema import SchemaItem

from shared.partitions import is_partition
from shared.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

# On PostgreSQL, migration 0102 swaps `events`' btree on (site_id, occurred_at) for a BRIN
# on occurred_at by hand; the metadata keeps the btree that SQLite has.
INDEXES_SWAPPED_ON_POSTGRES = frozenset({"ix_events_site_id_occurred_at", "ix_events_occurred_at"})


def include_object_for(
    dialect_name: str,
) -> Callable[[SchemaItem, str | None, str, bool, SchemaItem | None], bool]:
    """Alembic's autogenerate filter: what the metadata does not describe on purpose (the
    monthly partitions of `events`, the indexes migration 0102 swaps on PostgreSQL)."""

    def include_object(
        item: SchemaItem,
        name: str | None,
        type_: str,
        reflected: bool,
        compare_to: SchemaItem | None,
    ) -> bool:
        if type_ == "table":
            return name is None or not is_partition(name)
        swapped = dialect_name == "postgresql" and name in INDEXES_SWAPPED_ON_POSTGRES
        return not (type_ == "index" and swapped)

    return include_object


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["settings"] = settings
    return config


def upgrade_head(settings: Settings) -> None:
    """Alembic upgrade head (blocking; call from a thread inside an event loop)."""
    command.upgrade(alembic_config(settings), "head")


async def upgrade_head_async(settings: Settings) -> None:
    await asyncio.to_thread(upgrade_head, settings)
