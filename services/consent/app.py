"""The consent service's parts, and the consent service as its own process."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.consent.expiry.tasks import run_expiry
from services.consent.router import router
from services.consent.tokens.service import restore_revocations
from shared.app import AppParts, app_from_parts
from shared.runtime import Resources
from shared.settings import Settings, load_settings

EXAMPLES = Path(__file__).parent / "openapi_examples.json"


def consent_parts() -> AppParts:
    """Its routes, the revocation list restored at startup, and the expiry loop."""
    return AppParts(
        routers=(router,),
        startup=(restore_revocations,),
        background=(run_expiry,),
        examples=(EXAMPLES,),
    )


def create_app(settings: Settings | None = None, resources: Resources | None = None) -> FastAPI:
    settings = settings or load_settings(Settings)
    return app_from_parts("Overt consent", settings, consent_parts(), resources)
