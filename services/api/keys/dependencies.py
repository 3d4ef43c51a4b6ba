"""Authentication for the REST API: a Bearer key, rate limited, checked for scope and site."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.keys import (
    InvalidKey,
    KeyScope,
    LiveKey,
    MissingKey,
    MissingScope,
    OtherSite,
    authenticate_key,
    spend_request,
)
from shared.ratelimit import KeyRateLimiter, open_rate_limiter
from shared.runtime import Resources, ResourcesDep

bearer = HTTPBearer(auto_error=False, description="An API key made by `overt key create`.")

# Every endpoint with a key documents these refusals.
KEY_ERRORS = (401, 403, 429)


def rate_limiter(request: Request, resources: Resources) -> KeyRateLimiter:
    """The app's limiter, made on first use (Redis-backed when the process has Redis)."""
    state = request.app.state
    limiter: KeyRateLimiter | None = getattr(state, "api_rate_limiter", None)
    if limiter is None:
        limiter = open_rate_limiter(resources.redis, prefix=resources.settings.redis_prefix)
        state.api_rate_limiter = limiter
    return limiter


def check_own_site(key: LiveKey, site_id: str) -> None:
    """A key reads and writes only the site it was made for (from the path or the body)."""
    if site_id != key.site_id:
        raise OtherSite()


def require_scope(scope: KeyScope) -> Callable[..., Awaitable[LiveKey]]:
    """A dependency yielding the caller's key, refusing it without `scope` or over its limit."""

    async def dependency(
        request: Request,
        resources: ResourcesDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> LiveKey:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise MissingKey()
        key = await authenticate_key(engine=resources.engine, secret=credentials.credentials)
        if key is None:
            raise InvalidKey()
        settings = resources.settings
        await spend_request(
            rate_limiter(request, resources),
            key,
            limit=settings.api_rate_limit,
            window_s=settings.api_rate_window_s,
            state=request.state,
        )
        if scope.value not in key.scopes:
            raise MissingScope(scope.value)
        return key

    return dependency


def require_site_scope(scope: KeyScope) -> Callable[..., Awaitable[LiveKey]]:
    """As `require_scope`, for paths under /v1/sites/{site_id}: the key must be that site's."""
    key_dependency = require_scope(scope)

    # A default, not Annotated: the annotation string could not see this closure's variable.
    async def dependency(
        site_id: Annotated[str, Path(min_length=1, max_length=32)],
        key: LiveKey = Depends(key_dependency),  # noqa: B008
    ) -> LiveKey:
        check_own_site(key, site_id)
        return key

    return dependency


StatsKey = Annotated[LiveKey, Depends(require_scope(KeyScope.stats_read))]
DefinitionsWriteKey = Annotated[LiveKey, Depends(require_scope(KeyScope.definitions_write))]
ContactsKey = Annotated[LiveKey, Depends(require_site_scope(KeyScope.contacts_read))]
OutcomesKey = Annotated[LiveKey, Depends(require_site_scope(KeyScope.outcomes_write))]
WebhooksKey = Annotated[LiveKey, Depends(require_site_scope(KeyScope.webhooks_manage))]
SiteStatsKey = Annotated[LiveKey, Depends(require_site_scope(KeyScope.stats_read))]
ImportsKey = Annotated[LiveKey, Depends(require_site_scope(KeyScope.imports_write))]
SiteDefinitionsWriteKey = Annotated[
    LiveKey, Depends(require_site_scope(KeyScope.definitions_write))
]
