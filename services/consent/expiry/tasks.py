"""The expiry loop: an expiry pass over every site, hourly, beside the consent routes."""

from __future__ import annotations

import asyncio

from services.consent.expiry.service import expire_all
from shared.runtime import Resources
from shared.tasks import periodic

EXPIRY_INTERVAL_S = 3600.0


async def run_expiry(resources: Resources, stop: asyncio.Event) -> None:
    """Background task: record `expired` rows for lapsed consents, hourly, until `stop`."""

    async def one_pass() -> None:
        await expire_all(resources=resources)

    await periodic(stop, interval=EXPIRY_INTERVAL_S, one_pass=one_pass, name="consent expiry")
