"""The collector's parts (the snippet and /e) and the ingest worker's, and their apps."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.collector.router import EventIntakeMiddleware, router
from services.collector.worker import run_ingest
from shared.app import AppParts, app_from_parts
from shared.partitions import run_maintenance
from shared.runtime import Resources
from shared.settings import Settings, SettingsError, load_settings

EXAMPLES = Path(__file__).parent / "openapi_examples.json"


def collector_parts() -> AppParts:
    """The snippet and event intake; /e is answered by a front layer, ahead of the framework."""
    return AppParts(routers=(router,), front=(EventIntakeMiddleware,), examples=(EXAMPLES,))


def worker_parts() -> AppParts:
    """The ingest worker and the partition maintenance that keeps its tables' months ready."""
    return AppParts(background=(run_ingest, run_maintenance))


def require_shared_queue(settings: Settings, role: str) -> None:
    """A collector and a worker in separate processes meet only through Redis."""
    if not settings.redis_url:
        raise SettingsError(
            f"OVERT_REDIS_URL: required by `overt serve {role}` (the in-process queue "
            "only links a collector and a worker inside one process; use `overt up` for that)"
        )


def create_app(settings: Settings | None = None, resources: Resources | None = None) -> FastAPI:
    """The collector as its own process (the worker runs as its own process)."""
    settings = settings or load_settings(Settings)
    require_shared_queue(settings, "collector")
    return app_from_parts("Overt collector", settings, collector_parts(), resources)


def create_worker_app(
    settings: Settings | None = None, resources: Resources | None = None
) -> FastAPI:
    """The ingest worker as its own process: health and metrics, no public routes."""
    settings = settings or load_settings(Settings)
    require_shared_queue(settings, "worker")
    return app_from_parts("Overt worker", settings, worker_parts(), resources)
