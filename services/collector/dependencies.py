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
    KeyCache,
    KeyScope,
    LiveKey,
    MissingKey,
    MissingScope,
    spend_request,
)
from shared.ratelimit import KeyRateLimiter, open_rate_limiter
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


def ingest_keys(app: Any) -> tuple[KeyCache, KeyRateLimiter]:
    """The app's ingest-key cache and per-key rate limiter (made on first use; the limiter
    counts in Redis when the process has it, so every replica spends one budget)."""
    made: tuple[KeyCache, KeyRateLimiter] | None = getattr(app.state, "collector_keys", None)
    if made is None:
        resources: Resources = app.state.resources
        made = (
            KeyCache(resources.engine),
            open_rate_limiter(resources.redis, prefix=resources.settings.redis_prefix),
        )
        app.state.collector_keys = made
    return made


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

    A key that is sent must be live, hold events:write and be within its request budget
    (its own limit, else OVERT_INGEST_RATE_LIMIT per OVERT_API_RATE_WINDOW_S); it is found
    by its hash (shared/keys.py), so no secret is compared byte by byte, and held for a few
    seconds (KeyCache), so a backend's requests do not each cost a query."""
    if credentials is None:
        if "authorization" in request.headers:  # another scheme, or an empty one
            raise MissingKey()
        return None
    cache, limiter = ingest_keys(request.app)
    key = await cache.authenticate(credentials.credentials)
    if key is None:
        raise InvalidKey()
    settings = request.app.state.resources.settings
    await spend_request(
        limiter, key, limit=settings.ingest_rate_limit, window_s=settings.api_rate_window_s
    )
    if KeyScope.events_write.value not in key.scopes:
        raise MissingScope(KeyScope.events_write.value)
    return key


IngestKey = Annotated[LiveKey | None, Depends(optional_ingest_key)]
