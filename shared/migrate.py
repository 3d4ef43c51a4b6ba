"""Run the Alembic history (the schema) against the configured database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from shared.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


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
