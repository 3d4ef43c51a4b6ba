"""The web app's one router: `/` → `/app/`, the static files, each page package's router
(one include line each), and last the answer for any other path under /app/ or /share/."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.api.web.accounts.router import router as accounts_router
from services.api.web.accounts.security import router as security_router
from services.api.web.assets import ASSETS
from services.api.web.auth import NoSuchPage, current_user, problem_page, wants_page
from services.api.web.dashboard.router import router as dashboard_router
from services.api.web.keys.router import router as keys_router
from services.api.web.reports.router import router as reports_router
from services.api.web.settings.router import router as settings_router
from services.api.web.setup.router import router as setup_router
from services.api.web.team.router import router as team_router
from services.api.web.views.router import router as views_router
from shared.assets import asset_response
from shared.errors import ProblemError

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=303)


@router.get("/app")
async def app_root() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=303)


@router.get("/app/static/{name:path}")
async def static_file(request: Request, name: str) -> Response:
    asset = ASSETS.get(name)
    if asset is None:
        raise NoSuchPage()
    return asset_response(request, asset, headers={"X-Content-Type-Options": "nosniff"})


# Page packages, one line each. /app/sites/new (setup) comes before any /app/sites/{site_id}.
router.include_router(accounts_router)
router.include_router(security_router)
router.include_router(setup_router)
router.include_router(team_router)
router.include_router(keys_router)
router.include_router(views_router)
router.include_router(settings_router)
router.include_router(reports_router)
router.include_router(dashboard_router)


# Last: a path no page package answers. A browser (Accept: text/html) gets the 404 page in
# the app's layout, any other client problem+json; signed out, /app/ still means sign in
# first (whether a page exists is not told to a stranger). GET and HEAD only: another
# method on an unknown path stays the plain 404/405 of the API.
@router.api_route("/app/{path:path}", methods=["GET", "HEAD"])
@router.api_route("/share/{path:path}", methods=["GET", "HEAD"])
async def no_such_page(request: Request) -> Response:
    try:
        if request.url.path.startswith("/app/"):
            await current_user(request)
        raise NoSuchPage()
    except ProblemError as problem:
        if not wants_page(request):
            raise
        return problem_page(request, problem)
