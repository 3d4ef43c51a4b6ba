"""The dashboard's pages: one site's dashboard (`/app/sites/{id}`), its realtime view, CSV
export, panels' "show more", annotations and shared links; the shared dashboard itself
(`/share/{token}`, read-only, embeddable); and the roll-up of a user's sites (`/app/`).

A site's pages and its shared link render the same templates from the same data; `View`
carries what differs (the URL prefix, and whether the reader may change anything). Every
page reads its state from the query string (state.py) and works without JavaScript;
htmx only swaps parts in place (a panel's tab, more rows, the current visitors).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from services.api.stats.schemas import PLAIN_DIMENSIONS, FilterOp, SegmentIn
from services.api.stats.segments import create_segment, list_segments
from services.api.transfer.service import completed_imports
from services.api.web.auth import (
    NoSuchPage,
    Role,
    SiteAccess,
    WebUser,
    csrf_protect,
    current_user,
    page_router,
    render,
    set_embeddable_cookie,
    site_access,
)
from services.api.web.dashboard import display
from services.api.web.dashboard.annotations import (
    Annotation,
    AnnotationRefused,
    add_annotation,
    delete_annotation,
    list_annotations,
)
from services.api.web.dashboard.panels import MORE, SHOWN, TABS, panel_named
from services.api.web.dashboard.rollup import sparkline, summarise_sites
from services.api.web.dashboard.service import (
    Screen,
    Series,
    current_visitors,
    load_headline,
    load_panel,
    load_screen,
    screen_csv,
)
from services.api.web.dashboard.shares import (
    ShareRefused,
    check_password,
    create_share,
    find_share,
    is_unlocked,
    list_shares,
    revoke_share,
    unlock_value,
)
from services.api.web.dashboard.state import (
    COMPARISONS,
    CUSTOM,
    MAX_FILTERS,
    OP_WORDS,
    PRESETS,
    TILE_METRICS,
    BadDashboardState,
    DashboardState,
    Filter,
    parse_filter,
    parse_state,
)
from shared.errors import ProblemError
from shared.runtime import Resources, ResourcesDep, get_resources

router = page_router()

SiteViewer = Annotated[SiteAccess, Depends(site_access(Role.viewer))]
SiteAdmin = Annotated[SiteAccess, Depends(site_access(Role.admin))]
PRESET_LABELS = {
    "day": "Today",
    "7d": "Last 7 days",
    "28d": "Last 28 days",
    "30d": "Last 30 days",
    "month": "This month",
    "6mo": "Last 6 months",
    "12mo": "Last 12 months",
    "year": "This year",
    "all": "All time",
}
COMPARISON_LABELS = {
    None: "No comparison",
    "previous_period": "Previous period",
    "year_over_year": "Year over year",
}
DBIP = "IP geolocation by DB-IP"
PROPERTY = "prop"  # the filter form's choice of a custom property (named in its own field)
# What the filter form offers: every dimension a filter can test, in words.
FILTER_DIMENSIONS = [(d, d.replace("_", " ").capitalize()) for d in PLAIN_DIMENSIONS] + [
    (PROPERTY, "Custom property (name it below)")
]
MAX_VALUES_TEXT = 8192


@dataclass(frozen=True)
class View:
    """What a dashboard page is for: a site (`/app/sites/{id}`) or a shared link."""

    access: SiteAccess
    base: str  # the URL prefix of this dashboard's pages
    state: DashboardState

    @property
    def site(self) -> Any:
        return self.access.site

    @property
    def shared(self) -> bool:
        return self.access.shared

    @property
    def can_edit(self) -> bool:
        return not self.shared and self.access.role.at_least(Role.admin)

    def to(self, state: DashboardState, path: str = "") -> str:
        return self.base + path + state.query_string()

    def here(self) -> str:
        return self.to(self.state)

    def period(self, period: str) -> str:
        return self.to(self.state.changed(period=period))

    def compare(self, compare: str | None) -> str:
        return self.to(self.state.changed(compare=compare))

    def imports(self, included: bool) -> str:
        return self.to(self.state.changed(imports=included))

    def interval(self, interval: str) -> str:
        return self.to(self.state.changed(interval=interval))

    def metric(self, metric: str) -> str:
        return self.to(self.state.changed(metric=metric))

    def tab(self, key: str) -> str:
        return self.to(self.state.with_tab(key))

    def tab_fragment(self, key: str) -> str:
        panel = TABS[key][0]
        return self.to(self.state.with_tab(key), f"/panels/{panel.key}")

    def prop(self, key: str) -> str:
        return self.to(self.state.with_tab("props").changed(prop=key))

    def prop_fragment(self, key: str) -> str:
        return self.to(self.state.with_tab("props").changed(prop=key), "/panels/goals")

    def add_filter(self, dimension: str, value: str) -> str:
        added = Filter(dimension=dimension, op=FilterOp.is_, values=(value,))
        return self.to(self.state.with_filter(added))

    def segment(self, segment_id: str | None) -> str:
        return self.to(self.state.with_segment(segment_id))

    def remove_filter(self, index: int) -> str:
        return self.to(self.state.without_filter(index))

    def more(self, panel_key: str, offset: int) -> str:
        url = self.to(self.state, f"/panels/{panel_key}")
        return url + ("&" if "?" in url else "?") + f"offset={offset}"

    def csv(self) -> str:
        return self.to(self.state, "/export.csv")


def state_of(request: Request) -> DashboardState:
    """The screen's state from the query string (offset is the panels' own)."""
    return parse_state(
        (key, value) for key, value in request.query_params.multi_items() if key != "offset"
    )


def site_view(request: Request, access: SiteAccess) -> View:
    return View(access=access, base=f"/app/sites/{access.site.id}", state=state_of(request))


def timeout(resources: Resources) -> float:
    return resources.settings.query_timeout_s


def chart_data(series: Series | None, annotations: list[Annotation]) -> dict[str, Any] | None:
    """What dashboard.js draws (embedded as JSON in the page): the buckets, this period's
    values and the other period's, and where each annotation falls."""
    if series is None:
        return None
    marks = []
    for note in annotations:
        index = annotation_bucket(series, note.day)
        if index is not None:
            marks.append({"index": index, "text": note.text, "kind": note.kind})
    return {
        "metric": series.metric,
        "label": display.label(series.metric),
        "interval": series.interval,
        "labels": series.labels,
        "values": series.values,
        "other": series.other_values,
        "other_labels": series.other_labels,
        "percent": series.metric in display.FRACTIONS,
        "annotations": marks,
    }


def annotation_bucket(series: Series, day: date) -> int | None:
    """The chart bucket a day's annotation belongs on."""
    if series.interval == "hour":
        label = f"{day.isoformat()}T00:00"
    elif series.interval == "week":
        label = (day - timedelta(days=day.weekday())).isoformat()
    elif series.interval == "month":
        label = day.isoformat()[:7]
    else:
        label = day.isoformat()
    return series.labels.index(label) if label in series.labels else None


async def dashboard_page(
    request: Request,
    view: View,
    resources: Resources,
    *,
    message: str | None = None,
    status: int = 200,
) -> Response:
    engine = resources.engine
    screen = await load_screen(
        engine=engine, site_id=view.site.id, state=view.state, timeout_s=timeout(resources)
    )
    annotations: list[Annotation] = []
    if screen.headline is not None:
        annotations = await list_annotations(
            engine=engine,
            site_id=view.site.id,
            days=screen.headline.days,
            timezone=screen.headline.timezone,
        )
    now = await current_visitors(engine=engine, site_id=view.site.id, timeout_s=timeout(resources))
    chart = chart_data(screen.series, annotations)
    saved = [] if view.shared else await list_segments(engine=engine, site_id=view.site.id)
    # The imported-data menu, where there is some (or the screen asks for it).
    offers_imports = view.state.imports or bool(
        await completed_imports(engine=engine, site_id=view.site.id)
    )
    names = {segment.id: segment.name for segment in saved}
    return render(
        request,
        "dashboard/site.html",
        {
            "view": view,
            "screen": screen,
            "current": now.visitors,
            "annotations": annotations,
            "chart": chart,
            "page": "dashboard",
            "presets": [(key, PRESET_LABELS[key]) for key in PRESETS],
            "comparisons": [(key, COMPARISON_LABELS[key]) for key in (None, *COMPARISONS)],
            "intervals": ("hour", "day", "week", "month"),
            "tile_metrics": TILE_METRICS,
            "period_label": period_label(view.state, screen),
            "display": display,
            "dbip": DBIP,
            "today": datetime.now(UTC).date().isoformat(),
            "message": message,
            "custom": CUSTOM,
            "offers_imports": offers_imports,
            "segments": saved,
            "segment_names": names,
            "segment_label": segment_label(view.state, names),
            "dimensions": FILTER_DIMENSIONS,
            "ops": list(OP_WORDS.items()),
        },
        status=status,
        frame_ancestors="*" if view.shared else "'none'",
    )


def segment_label(state: DashboardState, names: dict[str, str]) -> str:
    """The top bar's segment menu, closed: the segment the screen is read through."""
    chosen = state.segment_ids()
    if not chosen:
        return "All visitors"
    return ", ".join(names.get(segment_id, "Unknown segment") for segment_id in chosen)


def period_label(state: DashboardState, screen: Screen) -> str:
    if state.period != CUSTOM:
        return PRESET_LABELS[state.period]
    if screen.headline is not None:
        first, last = screen.headline.days
        return f"{first.isoformat()} to {last.isoformat()}"
    return "Custom range"


async def panel_part(
    request: Request, view: View, resources: Resources, panel_key: str, offset: int
) -> Response:
    """A panel's rows: the first ones of a tab (an htmx tab switch swaps the whole card),
    more of them ("show more" appends rows), or, without JavaScript, a page of them."""
    panel = panel_named(panel_key)
    if panel is None:
        raise NoSuchPage()
    tab = view.state.tab(panel)
    headline = await load_headline(
        engine=resources.engine,
        site_id=view.site.id,
        state=view.state,
        timeout_s=timeout(resources),
    )
    fragment = request.headers.get("HX-Request") == "true"
    part = await load_panel(
        engine=resources.engine,
        site_id=view.site.id,
        state=view.state,
        panel=panel,
        tab=tab,
        headline=headline,
        timeout_s=timeout(resources),
        offset=offset,
        limit=SHOWN if offset == 0 and fragment else MORE if fragment else 100,
    )
    context = {"view": view, "part": part, "display": display, "dbip": DBIP}
    if not fragment:
        return render(
            request,
            "dashboard/panel_page.html",
            context,
            frame_ancestors="*" if view.shared else "'none'",
        )
    template = "dashboard/_panel.html" if offset == 0 else "dashboard/_more_rows.html"
    return render(request, template, context)


async def csv_export(view: View, resources: Resources) -> Response:
    screen = await load_screen(
        engine=resources.engine,
        site_id=view.site.id,
        state=view.state,
        timeout_s=timeout(resources),
    )
    if screen.refused is not None:
        raise ProblemError(422, "Refused", slug="k-anonymity", detail=screen.refused)
    assert screen.headline is not None
    first, last = screen.headline.days
    name = f"{view.site.domain}-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(
        screen_csv(screen),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


async def current_part(request: Request, view: View, resources: Resources) -> Response:
    now = await current_visitors(
        engine=resources.engine, site_id=view.site.id, timeout_s=timeout(resources)
    )
    return render(request, "dashboard/_current.html", {"view": view, "current": now.visitors})


# -- a site's dashboard (viewer and up) ------------------------------------------------------


@router.get("/app/sites/{site_id}")
async def site_dashboard(request: Request, access: SiteViewer, resources: ResourcesDep) -> Response:
    return await dashboard_page(request, site_view(request, access), resources)


@router.get("/app/sites/{site_id}/panels/{panel_key}")
async def site_panel(
    request: Request,
    access: SiteViewer,
    resources: ResourcesDep,
    panel_key: Annotated[str, Path(max_length=32)],
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    return await panel_part(request, site_view(request, access), resources, panel_key, offset)


@router.get("/app/sites/{site_id}/current")
async def site_current(request: Request, access: SiteViewer, resources: ResourcesDep) -> Response:
    return await current_part(request, site_view(request, access), resources)


@router.get("/app/sites/{site_id}/export.csv")
async def site_csv(request: Request, access: SiteViewer, resources: ResourcesDep) -> Response:
    return await csv_export(site_view(request, access), resources)


def built_filter(request: Request) -> Filter:
    """The filter the dashboard's form describes: a dimension (or a custom property by
    name), an operator, and values one a line; checked as /v1/query checks a condition."""
    fields = request.query_params
    dimension = fields.get("dimension", "")
    if dimension == PROPERTY:
        dimension = f"{PROPERTY}:{fields.get('property', '').strip()}"
    op = fields.get("op", FilterOp.is_.value)
    lines = fields.get("values", "")[:MAX_VALUES_TEXT].splitlines()
    values = list(dict.fromkeys(line.strip() for line in lines if line.strip()))
    if not values:
        raise BadDashboardState("values: give at least one value, one a line")
    built = parse_filter(f"{op},{dimension},{values[0]}")
    for value in values[1:]:
        built = built.with_values(parse_filter(f"{op},{dimension},{value}").values)
    return built


def filter_added(request: Request, view: View) -> Response:
    """The filter form's answer, with or without JavaScript: the dashboard with one more
    condition (a refused one is a 400 page saying what is wrong)."""
    added = built_filter(request)
    state = view.state.with_filter(added)
    given = sum(len(f.values) for f in view.state.filters) + len(added.values)
    if state == view.state and given > MAX_FILTERS:
        raise BadDashboardState(f"f: at most {MAX_FILTERS} values in all")
    return RedirectResponse(view.to(state), status_code=303)


@router.get("/app/sites/{site_id}/filter")
async def site_filter(request: Request, access: SiteViewer) -> Response:
    return filter_added(request, site_view(request, access))


@router.post("/app/sites/{site_id}/segments", dependencies=[Depends(csrf_protect)])
async def site_save_segment(
    request: Request,
    access: SiteAdmin,
    resources: ResourcesDep,
    name: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The screen's filters saved as a named segment (the API's segments), then the
    dashboard read through it."""
    view = site_view(request, access)
    tree = view.state.filter_tree()
    if tree is None:
        return await dashboard_page(
            request, view, resources, message="Add a filter before saving a segment.", status=422
        )
    try:
        body = SegmentIn.model_validate({"name": name.strip(), "filters": tree})
        made = await create_segment(engine=resources.engine, site_id=view.site.id, body=body)
    except ValidationError as exc:
        reason = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        message = f"The segment was not saved: {reason}."
        return await dashboard_page(request, view, resources, message=message, status=422)
    except ProblemError as refused:
        message = f"The segment was not saved: {refused.detail or refused.title}"
        return await dashboard_page(request, view, resources, message=message, status=422)
    read_through = replace(view.state, filters=()).with_segment(made.id)
    return RedirectResponse(view.to(read_through), status_code=303)


@router.get("/app/sites/{site_id}/realtime")
async def site_realtime(request: Request, access: SiteViewer, resources: ResourcesDep) -> Response:
    view = site_view(request, access)
    now = await current_visitors(
        engine=resources.engine, site_id=view.site.id, timeout_s=timeout(resources)
    )
    return render(
        request,
        "dashboard/realtime.html",
        {"view": view, "now": now, "current": now.visitors, "page": "realtime"},
    )


@router.get("/app/sites/{site_id}/realtime/now")
async def site_realtime_now(
    request: Request, access: SiteViewer, resources: ResourcesDep
) -> Response:
    view = site_view(request, access)
    now = await current_visitors(
        engine=resources.engine, site_id=view.site.id, timeout_s=timeout(resources)
    )
    return render(request, "dashboard/_realtime_now.html", {"view": view, "now": now})


# -- annotations (admin and up) --------------------------------------------------------------


@router.post("/app/sites/{site_id}/annotations", dependencies=[Depends(csrf_protect)])
async def site_annotate(
    request: Request,
    access: SiteAdmin,
    resources: ResourcesDep,
    day: Annotated[date, Form()],
    text: Annotated[str, Form(max_length=2000)],
) -> Response:
    view = site_view(request, access)
    try:
        await add_annotation(engine=resources.engine, site_id=view.site.id, day=day, text=text)
    except AnnotationRefused as refused:
        return await dashboard_page(request, view, resources, message=str(refused), status=422)
    return RedirectResponse(view.here(), status_code=303)


@router.post(
    "/app/sites/{site_id}/annotations/{annotation_id}/delete",
    dependencies=[Depends(csrf_protect)],
)
async def site_unannotate(
    request: Request,
    access: SiteAdmin,
    resources: ResourcesDep,
    annotation_id: Annotated[int, Path(ge=1)],
) -> Response:
    view = site_view(request, access)
    if not await delete_annotation(
        engine=resources.engine, site_id=view.site.id, annotation_id=annotation_id
    ):
        raise NoSuchPage()
    return RedirectResponse(view.here(), status_code=303)


# -- shared links: made and revoked by admins ------------------------------------------------


async def sharing_page(
    request: Request,
    access: SiteAccess,
    resources: Resources,
    *,
    new_link: str | None = None,
    message: str | None = None,
    status: int = 200,
) -> Response:
    shares = await list_shares(engine=resources.engine, site_id=access.site.id)
    return render(
        request,
        "dashboard/sharing.html",
        {
            "access": access,
            "site": access.site,
            "shares": shares,
            "new_link": new_link,
            "message": message,
            "public_url": resources.settings.base_url.rstrip("/"),
        },
        status=status,
    )


@router.get("/app/sites/{site_id}/sharing")
async def site_sharing(request: Request, access: SiteAdmin, resources: ResourcesDep) -> Response:
    return await sharing_page(request, access, resources)


@router.post("/app/sites/{site_id}/sharing", dependencies=[Depends(csrf_protect)])
async def site_share(
    request: Request,
    access: SiteAdmin,
    resources: ResourcesDep,
    label: Annotated[str, Form(max_length=500)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    try:
        _, token = await create_share(
            engine=resources.engine,
            site_id=access.site.id,
            label=label,
            password=password or None,
        )
    except ShareRefused as refused:
        return await sharing_page(request, access, resources, message=str(refused), status=422)
    link = f"{resources.settings.base_url.rstrip('/')}/share/{token}"
    return await sharing_page(request, access, resources, new_link=link, status=201)


@router.post("/app/sites/{site_id}/sharing/{share_id}/revoke", dependencies=[Depends(csrf_protect)])
async def site_unshare(
    access: SiteAdmin,
    resources: ResourcesDep,
    share_id: Annotated[str, Path(max_length=32)],
) -> Response:
    if not await revoke_share(engine=resources.engine, site_id=access.site.id, share_id=share_id):
        raise NoSuchPage()
    return RedirectResponse(f"/app/sites/{access.site.id}/sharing", status_code=303)


# -- a shared link: the dashboard, read-only, nothing else -----------------------------------

# Any segment: one that cannot be a token is just a page that is not there (404, a page
# for a browser), as find_share answers for it.
Token = Annotated[str, Path(max_length=2048)]


def share_cookie(share_id: str) -> str:
    """The cookie of a browser that gave this link's password (one per link)."""
    return f"overt_share_{share_id}"


async def shared_view(request: Request, token: Token) -> View:
    """The dashboard a shared link opens, or 404 (a revoked link, a wrong token, a locked
    link without its password cookie)."""
    resources = get_resources(request)
    found = await find_share(engine=resources.engine, token=token)
    if found is None:
        raise NoSuchPage()
    share, site = found
    cookie = request.cookies.get(share_cookie(share.id))
    if not is_unlocked(resources.settings.secret(), share, cookie):
        request.state.locked_share = share
        raise NoSuchPage()
    access = SiteAccess(user=None, site=site, role=Role.viewer, shared=True)
    return View(access=access, base=f"/share/{token}", state=state_of(request))


SharedView = Annotated[View, Depends(shared_view)]


def password_page(request: Request, token: str, message: str | None) -> Response:
    """A locked link's page: its password, asked (401 until given)."""
    return render(
        request,
        "dashboard/share_password.html",
        {"token": token, "message": message},
        status=401,
        frame_ancestors="*",
    )


@router.get("/share/{token}")
async def shared_dashboard(request: Request, token: Token, resources: ResourcesDep) -> Response:
    try:
        view = await shared_view(request, token)
    except NoSuchPage:
        if getattr(request.state, "locked_share", None) is None:
            raise
        return password_page(request, token, None)
    return await dashboard_page(request, view, resources)


@router.post("/share/{token}", dependencies=[Depends(csrf_protect)])
async def shared_unlock(
    request: Request,
    token: Token,
    resources: ResourcesDep,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    found = await find_share(engine=resources.engine, token=token)
    if found is None:
        raise NoSuchPage()
    share, _ = found
    if not check_password(share, password):
        return password_page(request, token, "That is not the link's password.")
    response = RedirectResponse(f"/share/{token}", status_code=303)
    secret = resources.settings.secret()
    set_embeddable_cookie(response, request, share_cookie(share.id), unlock_value(secret, share))
    return response


@router.get("/share/{token}/panels/{panel_key}")
async def shared_panel(
    request: Request,
    view: SharedView,
    resources: ResourcesDep,
    panel_key: Annotated[str, Path(max_length=32)],
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    return await panel_part(request, view, resources, panel_key, offset)


@router.get("/share/{token}/filter")
async def shared_filter(request: Request, view: SharedView) -> Response:
    return filter_added(request, view)


@router.get("/share/{token}/current")
async def shared_current(request: Request, view: SharedView, resources: ResourcesDep) -> Response:
    return await current_part(request, view, resources)


@router.get("/share/{token}/export.csv")
async def shared_csv(view: SharedView, resources: ResourcesDep) -> Response:
    return await csv_export(view, resources)


# -- all of a user's sites -------------------------------------------------------------------


@router.get("/app/")
async def rollup(
    request: Request, user: Annotated[WebUser, Depends(current_user)], resources: ResourcesDep
) -> Response:
    sites = [(site, role.value) for site, role in request.state.web_sites]
    lines = await summarise_sites(
        engine=resources.engine, sites=sites, timeout_s=timeout(resources)
    )
    return render(
        request,
        "dashboard/rollup.html",
        {"lines": lines, "sparkline": sparkline},
    )
