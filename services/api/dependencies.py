"""Authentication for the REST API: a Bearer key, checked for scope and site."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.exceptions import InvalidKey, MissingKey, MissingScope
from services.api.schemas import Scope
from services.api.service import ApiKey, authenticate_key
from shared.runtime import ResourcesDep

bearer = HTTPBearer(auto_error=False, description="An API key made by `overt key create`.")


def require_scope(scope: Scope) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency yielding the caller's key, refusing it without `scope`."""

    async def dependency(
        resources: ResourcesDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiKey:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise MissingKey()
        key = await authenticate_key(engine=resources.engine, secret=credentials.credentials)
        if key is None:
            raise InvalidKey()
        if scope.value not in key.scopes:
            raise MissingScope(scope.value)
        return key

    return dependency


StatsKey = Annotated[ApiKey, Depends(require_scope(Scope.stats_read))]
DefinitionsWriteKey = Annotated[ApiKey, Depends(require_scope(Scope.definitions_write))]
