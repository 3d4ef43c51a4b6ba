"""Per-process collector state, built on first use and shared by the route and the middleware."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from services.collector.salts import DailySalt, salt_store
from services.collector.service import Intake, SiteCache, TokenCheck
from shared.runtime import Resources


def intake_for(app: Any) -> Intake:
    """The app's Intake (created once, on the first event)."""
    intake: Intake | None = getattr(app.state, "collector_intake", None)
    if intake is None:
        resources: Resources = app.state.resources
        intake = Intake(
            sites=SiteCache(resources.engine),
            salt=DailySalt(
                salt_store(resources.engine, resources.redis, resources.settings.redis_prefix)
            ),
            queue=resources.queue,
            tokens=TokenCheck(
                secret=resources.settings.secret(), revocations=resources.revocations
            ),
        )
        app.state.collector_intake = intake
    return intake


def get_intake(request: Request) -> Intake:
    return intake_for(request.app)
