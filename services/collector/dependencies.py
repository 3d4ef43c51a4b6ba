"""Per-process collector state, built on first use and shared by the route and the middleware."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.collector.geo import open_geo
from services.collector.salts import DailySalt, salt_store
from services.collector.service import Intake, SiteCache, TokenCheck
from shared.keys import (
    InvalidKey,
    KeyScope,
    LiveKey,
    MissingKey,
    MissingScope,
    authenticate_key,
)
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
            geo=open_geo(resources.settings.geoip_db),
        )
        app.state.collector_intake = intake
    return intake


def get_intake(request: Request) -> Intake:
    return intake_for(request.app)


ingest_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="IngestKey",
    description="An ingest key (scope events:write) made by `overt key create`; backends only.",
)


async def optional_ingest_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(ingest_bearer)],
) -> LiveKey | None:
    """The sender's ingest key, or None when it sends none (a browser: /e's rules apply).

    A key that is sent must be live and hold events:write; it is found by its hash
    (shared/keys.py), so no secret is compared byte by byte."""
    if credentials is None:
        if "authorization" in request.headers:  # another scheme, or an empty one
            raise MissingKey()
        return None
    secret = credentials.credentials
    resources: Resources = request.app.state.resources
    key = await authenticate_key(engine=resources.engine, secret=secret)
    if key is None:
        raise InvalidKey()
    if KeyScope.events_write.value not in key.scopes:
        raise MissingScope(KeyScope.events_write.value)
    return key


IngestKey = Annotated[LiveKey | None, Depends(optional_ingest_key)]
