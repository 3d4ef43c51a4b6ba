"""What intake stored: the events table once the worker has committed everything queued."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shared.models import events
from tests.helpers.overt import Overt


async def stored(overt: Overt) -> list[dict[str, Any]]:
    await overt.drained()
    async with overt.resources.engine.connect() as conn:
        rows = (await conn.execute(select(events))).mappings().all()
    return [dict(row) for row in rows]
