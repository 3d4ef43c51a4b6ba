"""The API's parts, and the API as its own process."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.api.people.events import webhook_docs
from services.api.people.tasks import run_webhooks
from services.api.router import router
from services.api.stats.daily import run_daily_refresh
from services.api.transfer.tasks import run_transfers, upload_limit
from services.api.web.reports.tasks import run_reports
from shared.app import AppParts, app_from_parts
from shared.runtime import Resources
from shared.settings import Settings, load_settings

EXAMPLES = Path(__file__).parent / "openapi_examples.json"


def api_parts() -> AppParts:
    """Its routes, the webhooks it sends (documented), their sender, the transfer jobs, the
    rebuild of the daily rollups, the e-mail reports and traffic alerts, and the larger bound
    on uploads."""
    return AppParts(
        routers=(router,),
        webhooks=(webhook_docs,),
        background=(run_webhooks, run_transfers, run_daily_refresh, run_reports),
        front=(upload_limit,),
        examples=(EXAMPLES,),
    )


def create_app(settings: Settings | None = None, resources: Resources | None = None) -> FastAPI:
    settings = settings or load_settings(Settings)
    return app_from_parts("Overt API", settings, api_parts(), resources)
