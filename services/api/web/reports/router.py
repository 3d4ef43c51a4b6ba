"""The reports page: each user chooses their own e-mail reports and alerts for a site (any
role: reports are aggregate); admins set when a day is a spike or a drop, and Slack."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.api.people.exceptions import UnsafeTarget
from services.api.web.auth import Role, SiteAccess, csrf_protect, page_router, render, site_access
from services.api.web.reports.forms import choices_from_form, rule_from_form
from services.api.web.reports.service import (
    alert_rule,
    choose_reports,
    store_alert_rule,
    user_choices,
)
from services.api.web.settings.forms import FormError
from shared.mail import MailSettings
from shared.runtime import Resources, ResourcesDep

router = page_router()

REPORTS = "/app/sites/{site_id}/reports"
Viewer = Annotated[SiteAccess, Depends(site_access(Role.viewer))]
Admin = Annotated[SiteAccess, Depends(site_access(Role.admin))]


async def _fields(request: Request) -> dict[str, str]:
    raw = await request.form()
    return {name: value for name, value in raw.items() if isinstance(value, str)}


async def _page(
    request: Request,
    access: SiteAccess,
    resources: Resources,
    *,
    values: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
) -> Response:
    assert access.user is not None
    context: dict[str, Any] = {
        "site": access.site,
        "can_edit": access.role.at_least(Role.admin),
        "choices": await user_choices(
            engine=resources.engine, site_id=access.site.id, user_id=access.user.id
        ),
        "rule": await alert_rule(engine=resources.engine, site_id=access.site.id),
        "mail_configured": MailSettings().host is not None,
        "email": access.user.email,
        "values": values or {},
        "problems": problems or {},
        "saved": request.query_params.get("saved"),
    }
    return render(request, "reports/reports.html", context, status=422 if problems else 200)


@router.get(REPORTS)
async def reports_page(request: Request, access: Viewer, resources: ResourcesDep) -> Response:
    return await _page(request, access, resources)


@router.post(REPORTS, dependencies=[Depends(csrf_protect)])
async def choose(request: Request, access: Viewer, resources: ResourcesDep) -> Response:
    assert access.user is not None
    await choose_reports(
        engine=resources.engine,
        site_id=access.site.id,
        user_id=access.user.id,
        choices=choices_from_form(await _fields(request)),
    )
    return RedirectResponse(f"/app/sites/{access.site.id}/reports?saved=mine", status_code=303)


@router.post(REPORTS + "/alerts", dependencies=[Depends(csrf_protect)])
async def set_alerts(request: Request, access: Admin, resources: ResourcesDep) -> Response:
    fields = await _fields(request)
    try:
        rule = rule_from_form(fields)
        await store_alert_rule(resources=resources, site_id=access.site.id, rule=rule)
    except FormError as refused:
        return await _page(request, access, resources, values=fields, problems=refused.problems)
    except UnsafeTarget as refused:
        problems = {"slack_url": refused.detail or refused.title}
        return await _page(request, access, resources, values=fields, problems=problems)
    return RedirectResponse(f"/app/sites/{access.site.id}/reports?saved=alerts", status_code=303)
