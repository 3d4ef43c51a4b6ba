"""Per-process collector state, built on first use and injected into the routes."""

from __future__ import annotations

from fastapi import Request

from services.collector.service import DailySalt, Intake, SiteCache
from shared.runtime import Resources


def get_intake(request: Request) -> Intake:
    intake: Intake | None = getattr(request.app.state, "collector_intake", None)
    if intake is None:
        resources: Resources = request.app.state.resources
        intake = Intake(
            sites=SiteCache(resources.engine),
            salt=DailySalt(resources.engine),
            queue=resources.queue,
        )
        request.app.state.collector_intake = intake
    return intake
