"""Site settings pages (admins and owners; anyone else gets 404): the site's knobs as
`overt site set` changes them, goals, segments, and webhook / Slack destinations.

Each section is its own form posting to its own path; a change redirects back (303) to the
page, a refusal shows the page again with the sentence next to the field (422). The
services are the API's own (shared.sites, engagement, goals, stats.segments, people), so a
setting means the same wherever it is changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from services.api.engagement.service import change_k, current_definition
from services.api.goals.service import create_goal, delete_goal, list_goals
from services.api.people.schemas import TRIGGERS, DestinationKind, WebhookEvent
from services.api.people.webhooks import (
    create_subscription,
    delete_subscription,
    list_subscriptions,
)
from services.api.stats.schemas import PLAIN_DIMENSIONS, FilterOp
from services.api.stats.segments import create_segment, delete_segment, list_segments
from services.api.web.auth import Role, SiteAccess, csrf_protect, page_router, render, site_access
from services.api.web.dashboard.state import filter_words
from services.api.web.settings.forms import (
    FormError,
    destination_in,
    goal_in,
    segment_in,
    site_changes,
    site_problems,
)
from shared.errors import ProblemError
from shared.runtime import Resources, ResourcesDep
from shared.sites import SiteError, get_site, update_site

router = page_router()

SETTINGS = "/app/sites/{site_id}/settings"
Admin = Annotated[SiteAccess, Depends(site_access(Role.admin))]
Unsafe = [Depends(csrf_protect)]
ItemId = Annotated[str, Path(min_length=1, max_length=32)]
TIMEZONES = sorted(available_timezones())
EVENT_LABELS = {
    WebhookEvent.intent_threshold_crossed: "A contact shows intent",
    WebhookEvent.goal_completed: "A contact completes a goal",
    WebhookEvent.contact_withdrawn: "A contact withdraws consent",
    WebhookEvent.contact_deleted: "A contact is erased",
}


async def _form(request: Request) -> dict[str, str]:
    raw = await request.form()
    fields: dict[str, str] = {}
    for name, value in raw.multi_items():
        if isinstance(value, str):
            fields[name] = f"{fields[name]},{value}" if name in fields else value
    return fields


async def _page(
    request: Request,
    access: SiteAccess,
    resources: Resources,
    *,
    section: str | None = None,
    values: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    created_secret: str | None = None,
    status: int = 200,
) -> Response:
    engine = resources.engine
    site = await get_site(engine=engine, site_id=access.site.id) or access.site
    context: dict[str, Any] = {
        "site": site,
        "role": access.role,
        "k": (await current_definition(engine, site.id)).k,
        "goals": await list_goals(engine=engine, site_id=site.id),
        "segments": await list_segments(engine=engine, site_id=site.id),
        "filter_words": filter_words,
        "destinations": await list_subscriptions(engine=engine, site_id=site.id),
        "timezones": TIMEZONES,
        "dimensions": PLAIN_DIMENSIONS,
        "ops": [op.value for op in FilterOp],
        "event_labels": {event.value: label for event, label in EVENT_LABELS.items()},
        "triggers": sorted(event.value for event in TRIGGERS),
        "section": section,
        "values": values or {},
        "problems": problems or {},
        "saved": request.query_params.get("saved"),
        "created_secret": created_secret,
    }
    return render(request, "settings/settings.html", context, status=status)


def _back(access: SiteAccess, section: str) -> RedirectResponse:
    return RedirectResponse(
        f"/app/sites/{access.site.id}/settings?saved={section}#{section}", status_code=303
    )


@router.get(SETTINGS)
async def settings_page(request: Request, access: Admin, resources: ResourcesDep) -> Response:
    return await _page(request, access, resources)


async def _add(
    request: Request,
    access: SiteAccess,
    resources: Resources,
    section: str,
    field: str,
    store: Callable[[dict[str, str]], Awaitable[Response | None]],
) -> Response:
    """Parse and store one section's form: back to the page (303), or the page again with
    the refusal beside `field` (the service's own sentence for a conflict or a limit)."""
    fields = await _form(request)
    try:
        shown = await store(fields)
    except FormError as refused:
        problems = refused.problems
    except ProblemError as refused:
        problems = {field: refused.detail or refused.title}
    else:
        return shown or _back(access, section)
    return await _page(
        request, access, resources, section=section, values=fields, problems=problems, status=422
    )


@router.post(SETTINGS + "/site", dependencies=Unsafe)
async def change_site(request: Request, access: Admin, resources: ResourcesDep) -> Response:
    async def store(fields: dict[str, str]) -> None:
        wanted = site_changes(fields)
        try:
            await update_site(
                engine=resources.engine,
                site_id=access.site.id,
                timezone=wanted.timezone,
                changes=wanted.changes,
            )
        except SiteError as refused:  # as `overt site set` says it, beside the field named
            raise FormError(site_problems(str(refused))) from None
        await change_k(engine=resources.engine, site_id=access.site.id, k=wanted.k)

    return await _add(request, access, resources, "site", "site", store)


@router.post(SETTINGS + "/goals", dependencies=Unsafe)
async def add_goal(request: Request, access: Admin, resources: ResourcesDep) -> Response:
    async def store(fields: dict[str, str]) -> None:
        await create_goal(engine=resources.engine, site_id=access.site.id, body=goal_in(fields))

    return await _add(request, access, resources, "goals", "target", store)


@router.post(SETTINGS + "/goals/{goal_id}/delete", dependencies=Unsafe)
async def remove_goal(access: Admin, resources: ResourcesDep, goal_id: ItemId) -> Response:
    await delete_goal(engine=resources.engine, site_id=access.site.id, goal_id=goal_id)
    return _back(access, "goals")


@router.post(SETTINGS + "/segments", dependencies=Unsafe)
async def add_segment(request: Request, access: Admin, resources: ResourcesDep) -> Response:
    async def store(fields: dict[str, str]) -> None:
        body = segment_in(fields)
        await create_segment(engine=resources.engine, site_id=access.site.id, body=body)

    return await _add(request, access, resources, "segments", "name", store)


@router.post(SETTINGS + "/segments/{segment_id}/delete", dependencies=Unsafe)
async def remove_segment(access: Admin, resources: ResourcesDep, segment_id: ItemId) -> Response:
    await delete_segment(engine=resources.engine, site_id=access.site.id, segment_id=segment_id)
    return _back(access, "segments")


@router.post(SETTINGS + "/destinations", dependencies=Unsafe)
async def add_destination(request: Request, access: Admin, resources: ResourcesDep) -> Response:
    async def store(fields: dict[str, str]) -> Response | None:
        body = destination_in(fields)
        _, secret = await create_subscription(
            engine=resources.engine,
            settings=resources.settings,
            site_id=access.site.id,
            body=body,
        )
        if body.kind is not DestinationKind.webhook:
            return None
        # A webhook's signing secret is shown this once: the page, not a redirect.
        return await _page(
            request, access, resources, section="destinations", created_secret=secret
        )

    return await _add(request, access, resources, "destinations", "url", store)


@router.post(SETTINGS + "/destinations/{destination_id}/delete", dependencies=Unsafe)
async def remove_destination(
    access: Admin, resources: ResourcesDep, destination_id: ItemId
) -> Response:
    await delete_subscription(
        engine=resources.engine, site_id=access.site.id, webhook_id=destination_id
    )
    return _back(access, "destinations")
