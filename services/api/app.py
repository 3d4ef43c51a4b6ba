"""The API as its own process."""

from __future__ import annotations

from fastapi import FastAPI

from services.api.people.tasks import run_webhooks
from services.api.router import router
from shared.app import build_app
from shared.runtime import Resources
from shared.settings import Settings, load_settings


def create_app(settings: Settings | None = None, resources: Resources | None = None) -> FastAPI:
    settings = settings or load_settings(Settings)
    return build_app(
        title="Overt API",
        settings=settings,
        routers=[router],
        resources=resources,
        background=[run_webhooks],
    )
