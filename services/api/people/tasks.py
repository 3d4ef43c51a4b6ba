"""The API's background loop: every poll, queue new notices and start sending what is due.

Sends run beside the loop (webhooks.Sender), so a slow receiver never delays the next poll;
at stop, the requests in flight are finished (each within its deadline)."""

from __future__ import annotations

import asyncio
import math
import time

from services.api.people.webhooks import Sender, http_client, queue_notices
from shared.runtime import Resources
from shared.tasks import periodic


async def run_webhooks(resources: Resources, stop: asyncio.Event) -> None:
    """Background task of the API: a webhook pass every `webhook_poll_s` until `stop`."""
    settings = resources.settings
    last_intent_scan = -math.inf

    async with http_client(settings) as client:
        sender = Sender(resources, client)

        async def one_pass() -> None:
            nonlocal last_intent_scan
            # Scoring every contact is the costly part: at most every webhook_intent_scan_s.
            scan = time.monotonic() - last_intent_scan >= settings.webhook_intent_scan_s
            await queue_notices(resources, intent=scan)
            if scan:
                last_intent_scan = time.monotonic()
            await sender.dispatch()

        try:
            await periodic(
                stop, interval=settings.webhook_poll_s, one_pass=one_pass, name="webhook"
            )
        finally:
            await sender.drain()
