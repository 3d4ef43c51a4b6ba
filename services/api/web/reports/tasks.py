"""The reports' background loop: every `reports_poll_s`, mail the reports that are due and
check each site's last whole day for a spike or a drop."""

from __future__ import annotations

import asyncio

import httpx

from services.api.web.reports.service import alerts_pass, reports_pass
from shared.mail import MailSettings
from shared.runtime import Resources
from shared.tasks import periodic

POLL_S = 300.0  # a report or an alert is due once a day at most: five minutes late is on time


async def run_reports(resources: Resources, stop: asyncio.Event) -> None:
    """Background task of the API: a reports-and-alerts pass every POLL_S until `stop`."""
    mail_settings = MailSettings()
    async with httpx.AsyncClient(follow_redirects=False) as client:

        async def one_pass() -> None:
            await reports_pass(resources=resources, mail_settings=mail_settings)
            await alerts_pass(resources=resources, mail_settings=mail_settings, client=client)

        await periodic(stop, interval=POLL_S, one_pass=one_pass, name="reports")
