"""/app/setup (the one-time link: the first owner), /app/sites/new (a site), and
/app/sites/{id}/setup (the script tag, then "received" once the first pageview is in)."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.web.accounts.service import (
    create_first_owner,
    grant_role,
    setup_token_open,
)
from services.api.web.auth import (
    Role,
    SiteAccess,
    WebUser,
    csrf_protect,
    current_user,
    page_router,
    render,
    site_access,
    start_session_and_go,
)
from services.api.web.forms import form_fields, form_problem
from services.api.web.setup.schemas import OwnerForm, SiteForm
from shared.models import events
from shared.runtime import Resources, ResourcesDep
from shared.sites import SiteError, create_site, script_tag

router = page_router()
TIME_ZONES = sorted(zone for zone in available_timezones() if "/" in zone or zone == "UTC")
# -- the first owner -----------------------------------------------------------------------


def _closed(request: Request) -> Response:
    return render(
        request,
        "error.html",
        {
            "status": 404,
            "title": "This setup link does not open",
            "detail": "It was used already, has expired, or Overt has a user now: sign in, "
            "or restart `overt up` for a new link while no user exists.",
        },
        status=404,
    )


@router.get("/app/setup")
async def setup_page(request: Request, resources: ResourcesDep) -> Response:
    token = request.query_params.get("token", "")
    if len(token) > 64 or not await setup_token_open(engine=resources.engine, token=token):
        return _closed(request)
    return render(request, "setup/owner.html", {"token": token, "email": "", "problem": None})


@router.post("/app/setup", dependencies=[Depends(csrf_protect)])
async def create_owner(request: Request, resources: ResourcesDep) -> Response:
    fields = await form_fields(request)
    try:
        form = OwnerForm.model_validate(fields)
    except ValidationError as error:
        return render(
            request,
            "setup/owner.html",
            {
                "token": fields.get("token", "")[:64],
                "email": fields.get("email", "")[:320],
                "problem": form_problem(error),
            },
            status=400,
        )
    account = await create_first_owner(
        engine=resources.engine, token=form.token, email=form.email, password=form.password
    )
    if account is None:
        return _closed(request)
    return await start_session_and_go(request, account.id, "/app/sites/new")


# -- a site --------------------------------------------------------------------------------


@router.get("/app/sites/new")
async def new_site_page(
    request: Request, user: Annotated[WebUser, Depends(current_user)]
) -> Response:
    return render(request, "setup/site.html", _site_context("", "UTC", None))


def _site_context(domain: str, timezone: str, problem: str | None) -> dict[str, Any]:
    return {"domain": domain, "timezone": timezone, "zones": TIME_ZONES, "problem": problem}


@router.post("/app/sites/new", dependencies=[Depends(csrf_protect)])
async def add_site(
    request: Request, resources: ResourcesDep, user: Annotated[WebUser, Depends(current_user)]
) -> Response:
    fields = await form_fields(request)
    domain, timezone = fields.get("domain", "")[:300], fields.get("timezone", "UTC")[:64]
    try:
        form = SiteForm.model_validate(fields)
        site = await create_site(
            engine=resources.engine, domain=form.domain, timezone=form.timezone
        )
    except ValidationError as error:
        problem = form_problem(error)
    except SiteError:
        problem = "A site for this domain is registered already."
    else:
        await grant_role(engine=resources.engine, user_id=user.id, site_id=site.id, role=Role.owner)
        return RedirectResponse(f"/app/sites/{site.id}/setup", status_code=303)
    return render(request, "setup/site.html", _site_context(domain, timezone, problem), status=400)


# -- the script tag, and the first visit ---------------------------------------------------


async def first_pageview_in(engine: AsyncEngine, site_id: str) -> bool:
    async with engine.connect() as conn:
        found = (
            await conn.execute(
                select(events.c.event_id)
                .where(events.c.site_id == site_id, events.c.name == "pageview")
                .limit(1)
            )
        ).first()
    return found is not None


@router.get("/app/sites/{site_id}/setup")
async def site_setup(
    request: Request,
    resources: ResourcesDep,
    access: Annotated[SiteAccess, Depends(site_access(Role.admin))],
) -> Response:
    return await _waiting(request, resources, access, "setup/waiting.html")


@router.get("/app/sites/{site_id}/setup/status")
async def site_setup_status(
    request: Request,
    resources: ResourcesDep,
    access: Annotated[SiteAccess, Depends(site_access(Role.admin))],
) -> Response:
    """The waiting box alone (htmx polls it until the first pageview is in)."""
    return await _waiting(request, resources, access, "setup/status.html")


async def _waiting(
    request: Request, resources: Resources, access: SiteAccess, template: str
) -> Response:
    return render(
        request,
        template,
        {
            "site": access.site,
            "tag": script_tag(resources.settings.base_url, access.site),
            "received": await first_pageview_in(resources.engine, access.site.id),
        },
    )
