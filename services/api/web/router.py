"""The web app's one router: `/` → `/app/`, the static files, and each page package's router
(one include line each)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.api.web.accounts.router import router as accounts_router
from services.api.web.accounts.security import router as security_router
from services.api.web.assets import ASSETS
from services.api.web.auth import NoSuchPage
from services.api.web.dashboard.router import router as dashboard_router
from services.api.web.keys.router import router as keys_router
from services.api.web.reports.router import router as reports_router
from services.api.web.settings.router import router as settings_router
from services.api.web.setup.router import router as setup_router
from services.api.web.team.router import router as team_router
from services.api.web.views.router import router as views_router
from shared.assets import asset_response

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
