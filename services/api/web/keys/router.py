"""/app/sites/{id}/settings/keys: owners and admins make, list and revoke the site's keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from services.api.keys.service import create_key, list_keys, revoke_key
from services.api.web.auth import (
    NoSuchPage,
    Role,
    SiteAccess,
    csrf_protect,
    page_router,
    render,
    site_access,
)
from shared.keys import KeyScope
from shared.runtime import ResourcesDep

router = page_router()
KeysAccess = Annotated[SiteAccess, Depends(site_access(Role.admin))]
KEYS = "/app/sites/{site_id}/settings/keys"
SCOPE_HELP = {
    KeyScope.stats_read: "read aggregate stats (/v1/query, reports, realtime)",
    KeyScope.events_write: "send server-side events (POST /api/event); reads nothing",
    KeyScope.contacts_read: "read consented contacts",
    KeyScope.outcomes_write: "record outcomes",
    KeyScope.webhooks_manage: "manage webhooks",
    KeyScope.definitions_write: "change the engagement definition, goals and segments",
    KeyScope.imports_write: "import data",
}


async def keys_page(
    request: Request,
    resources: ResourcesDep,
    access: SiteAccess,
    *,
    secret: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    keys = await list_keys(engine=resources.engine, site_id=access.site.id)
    return render(
        request,
        "keys/keys.html",
        {
            "site": access.site,
            "keys": list(reversed(keys)),
            "scopes": [(scope.value, SCOPE_HELP[scope]) for scope in KeyScope],
            "secret": secret,
            "problem": problem,
        },
        status=status,
    )


@router.get(KEYS)
async def keys(request: Request, resources: ResourcesDep, access: KeysAccess) -> Response:
    return await keys_page(request, resources, access)


@router.post(KEYS, dependencies=[Depends(csrf_protect)])
async def make_key(request: Request, resources: ResourcesDep, access: KeysAccess) -> Response:
    form = await request.form()
    known = {scope.value for scope in KeyScope}
    chosen = [value for value in form.getlist("scope") if isinstance(value, str)]
    if not chosen or any(value not in known for value in chosen):
        return await keys_page(
            request, resources, access, problem="Choose at least one scope.", status=400
        )
    _, secret = await create_key(
        engine=resources.engine,
        site_id=access.site.id,
        scopes=[KeyScope(value) for value in chosen],
    )
    return await keys_page(request, resources, access, secret=secret)


@router.post(KEYS + "/{key_id}/revoke", dependencies=[Depends(csrf_protect)])
async def revoke(
    resources: ResourcesDep, access: KeysAccess, key_id: Annotated[str, Path(max_length=32)]
) -> Response:
    own = {key["id"] for key in await list_keys(engine=resources.engine, site_id=access.site.id)}
    if key_id not in own or not await revoke_key(engine=resources.engine, key_id=key_id):
        raise NoSuchPage()  # another site's key, or revoked already
    return RedirectResponse(KEYS.format(site_id=access.site.id), status_code=303)
