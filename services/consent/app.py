"""The consent service as its own process."""

from __future__ import annotations

from fastapi import FastAPI

from services.consent.expiry.tasks import run_expiry
from services.consent.router import router
from services.consent.tokens.service import restore_revocations
from shared.app import build_app
from shared.runtime import Resources
from shared.settings import Settings, load_settings


def create_app(settings: Settings | None = None, resources: Resources | None = None) -> FastAPI:
    settings = settings or load_settings(Settings)
    return build_app(
        title="Overt consent",
        settings=settings,
        routers=[router],
        resources=resources,
        startup=[restore_revocations],
        background=[run_expiry],
    )
