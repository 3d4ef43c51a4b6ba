"""Pages of Overt's own views, under /app/sites/{site_id}/views/: after the click, funnels,
retention, the engagement definition, consent and contacts.

Reading needs a viewer's role; storing a new engagement definition (its numbers, or one of
its intent rules added, changed or removed) an admin's. Every number
comes from views.service, itself a client of the engines behind /v1.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import current_definition, store_definition
from services.api.people.contacts import get_contact
from services.api.web.auth import (
    NoSuchPage,
    Role,
    SiteAccess,
    csrf_protect,
    page_router,
    render,
    site_access,
)
from services.api.web.views.forms import (
    MAX_RULES,
    RULE_KINDS,
    DefinitionFormError,
    definition_from_form,
    form_fields,
    rule_fields,
    rule_from_form,
    rule_words,
    with_rules,
)
from services.api.web.views.service import (
    AFTER_CLICK_GROUPINGS,
    PERIODS,
    StepsError,
    after_click_view,
    consent_view,
    contacts_view,
    definition_history,
    funnel_view,
    ledger_status,
    parse_steps,
    retention_view,
    view_days,
)
from shared.runtime import ResourcesDep

router = page_router()

VIEWS = "/app/sites/{site_id}/views"
Viewer = Annotated[SiteAccess, Depends(site_access(Role.viewer))]
Admin = Annotated[SiteAccess, Depends(site_access(Role.admin))]
DEFAULT_STEPS = "/\n/pricing*"


def _page(access: SiteAccess, tab: str, **context: Any) -> dict[str, Any]:
    return {
        "site": access.site,
        "role": access.role,
        "can_edit": access.role.at_least(Role.admin) and not access.shared,
        "tab": tab,
        "periods": PERIODS,
        **context,
    }


@router.get(VIEWS)
async def views_home(site_id: str) -> RedirectResponse:
    return RedirectResponse(f"/app/sites/{site_id}/views/after-click", status_code=303)


@router.get(VIEWS + "/after-click")
async def after_click_page(
    request: Request, access: Viewer, resources: ResourcesDep, period: str = "", by: str = ""
) -> Response:
    engine = resources.engine
    days = await view_days(engine=engine, site_id=access.site.id, period=period)
    view = await after_click_view(
        engine=engine,
        site_id=access.site.id,
        days=days,
        by=by,
        timeout_s=resources.settings.query_timeout_s,
    )
    return render(
        request,
        "views/after_click.html",
        _page(access, "after-click", days=days, view=view, groupings=AFTER_CLICK_GROUPINGS),
    )


@router.get(VIEWS + "/funnels")
async def funnels_page(
    request: Request,
    access: Viewer,
    resources: ResourcesDep,
    period: str = "",
    steps: str = DEFAULT_STEPS,
) -> Response:
    days = await view_days(engine=resources.engine, site_id=access.site.id, period=period)
    problem = view = None
    try:
        parsed = parse_steps(steps[:4000])
    except StepsError as refused:
        problem = str(refused)
    else:
        view = await funnel_view(
            engine=resources.engine,
            site_id=access.site.id,
            days=days,
            steps=parsed,
            timeout_s=resources.settings.query_timeout_s,
        )
    return render(
        request,
        "views/funnels.html",
        _page(access, "funnels", days=days, view=view, steps=steps, problem=problem),
        status=422 if problem else 200,
    )


@router.get(VIEWS + "/retention")
async def retention_page(
    request: Request, access: Viewer, resources: ResourcesDep, period: str = "12mo"
) -> Response:
    days = await view_days(engine=resources.engine, site_id=access.site.id, period=period)
    view = await retention_view(
        engine=resources.engine,
        site_id=access.site.id,
        days=days,
        timeout_s=resources.settings.query_timeout_s,
    )
    return render(request, "views/retention.html", _page(access, "retention", days=days, view=view))


async def _engagement(
    request: Request,
    access: SiteAccess,
    resources: ResourcesDep,
    *,
    values: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    saved: bool = False,
    rule: int | None = None,
    rule_values: dict[str, str] | None = None,
    rule_problems: dict[str, str] | None = None,
) -> Response:
    history = await definition_history(engine=resources.engine, site_id=access.site.id)
    current = history[0]
    if rule is not None and not 0 <= rule < len(current.intent_rules):
        rule = None
    if rule_values is None:
        rule_values = rule_fields(current.intent_rules[rule]) if rule is not None else {}
    return render(
        request,
        "views/engagement.html",
        _page(
            access,
            "engagement",
            history=history,
            current=current,
            values=values or form_fields(current),
            problems=problems or {},
            saved=saved,
            rule=rule,
            rule_values=rule_values,
            rule_problems=rule_problems or {},
            rule_kinds=RULE_KINDS,
            rule_words=rule_words,
        ),
        status=422 if problems or rule_problems else 200,
    )


@router.get(VIEWS + "/engagement")
async def engagement_page(
    request: Request,
    access: Viewer,
    resources: ResourcesDep,
    saved: int = 0,
    rule: Annotated[int | None, Query(ge=0, le=100)] = None,
) -> Response:
    return await _engagement(request, access, resources, saved=bool(saved), rule=rule)


@router.post(VIEWS + "/engagement", dependencies=[Depends(csrf_protect)])
async def store_engagement(request: Request, access: Admin, resources: ResourcesDep) -> Response:
    fields = await _fields(request)
    current = await current_definition(resources.engine, access.site.id)
    try:
        body = definition_from_form(fields, current)
    except DefinitionFormError as refused:
        return await _engagement(
            request, access, resources, values=fields, problems=refused.problems
        )
    return await _stored(access, resources, body)


async def _fields(request: Request) -> dict[str, str]:
    raw = await request.form()
    return {name: value for name, value in raw.items() if isinstance(value, str)}


async def _stored(access: SiteAccess, resources: ResourcesDep, body: DefinitionIn) -> Response:
    await store_definition(engine=resources.engine, site_id=access.site.id, body=body)
    return RedirectResponse(
        f"/app/sites/{access.site.id}/views/engagement?saved=1", status_code=303
    )


# An intent rule is changed or removed by its place in the version the page showed: a form
# sent after another change to the definition is refused rather than applied to the wrong rule.
STALE = "The definition changed since this page was shown: look again, then repeat the change."


@router.post(VIEWS + "/engagement/intent-rules", dependencies=[Depends(csrf_protect)])
async def store_intent_rule(request: Request, access: Admin, resources: ResourcesDep) -> Response:
    """Add an intent rule, or (with `index`) change one: a new version of the definition."""
    fields = await _fields(request)
    current = await current_definition(resources.engine, access.site.id)
    rules = list(current.intent_rules)
    index = _index(fields.get("index", ""), len(rules))
    problems: dict[str, str] = {}
    if fields.get("version") != str(current.version) or index == -1:
        problems = {"kind": STALE}
    elif index is None and len(rules) >= MAX_RULES:
        problems = {"kind": f"A definition has at most {MAX_RULES} intent rules."}
    else:
        others = tuple(r for i, r in enumerate(rules) if i != index)
        try:
            made = rule_from_form(fields, others)
        except DefinitionFormError as refused:
            problems = refused.problems
    if problems:
        return await _engagement(
            request,
            access,
            resources,
            rule=index if index is not None and index >= 0 else None,
            rule_values=fields,
            rule_problems=problems,
        )
    if index is None:
        rules.append(made)
    else:
        rules[index] = made
    return await _stored(access, resources, with_rules(current, tuple(rules)))


@router.post(
    VIEWS + "/engagement/intent-rules/{index}/delete", dependencies=[Depends(csrf_protect)]
)
async def remove_intent_rule(
    request: Request,
    access: Admin,
    resources: ResourcesDep,
    index: Annotated[int, Path(ge=0, le=100)],
) -> Response:
    fields = await _fields(request)
    current = await current_definition(resources.engine, access.site.id)
    if fields.get("version") != str(current.version) or index >= len(current.intent_rules):
        return await _engagement(
            request, access, resources, rule_values={}, rule_problems={"kind": STALE}
        )
    rules = current.intent_rules[:index] + current.intent_rules[index + 1 :]
    return await _stored(access, resources, with_rules(current, rules))


def _index(text: str, count: int) -> int | None:
    """The `index` field: None (a new rule), a rule's place, or -1 (no such rule)."""
    if not text:
        return None
    return int(text) if text.isdigit() and int(text) < count else -1


@router.get(VIEWS + "/consent")
async def consent_page(
    request: Request, access: Viewer, resources: ResourcesDep, period: str = "", verify: int = 0
) -> Response:
    days = await view_days(engine=resources.engine, site_id=access.site.id, period=period)
    view = await consent_view(
        engine=resources.engine,
        secret=resources.settings.secret(),
        site_id=access.site.id,
        days=days,
        verify=bool(verify),
    )
    return render(request, "views/consent.html", _page(access, "consent", days=days, view=view))


@router.get(VIEWS + "/consent/ledger")
async def ledger_card(request: Request, access: Viewer, resources: ResourcesDep) -> Response:
    """The ledger's card, verified now: what the page's "Verify now" fetches (htmx)."""
    status = await ledger_status(
        engine=resources.engine, secret=resources.settings.secret(), site_id=access.site.id
    )
    return render(
        request,
        "views/_ledger.html",
        _page(access, "consent", ledger=status, can_verify=status is not None, period=""),
    )


@router.get(VIEWS + "/contacts")
async def contacts_page(request: Request, access: Viewer, resources: ResourcesDep) -> Response:
    view = await contacts_view(
        engine=resources.engine, secret=resources.settings.secret(), site_id=access.site.id
    )
    return render(request, "views/contacts.html", _page(access, "contacts", view=view))


@router.get(VIEWS + "/contacts/{subject_id}")
async def contact_page(
    request: Request,
    access: Viewer,
    resources: ResourcesDep,
    subject_id: Annotated[str, Path(min_length=1, max_length=32)],
) -> Response:
    contact = await get_contact(
        engine=resources.engine,
        secret=resources.settings.secret(),
        site_id=access.site.id,
        subject_id=subject_id,
    )
    if contact is None:
        raise NoSuchPage()
    return render(request, "views/contact.html", _page(access, "contacts", contact=contact))
