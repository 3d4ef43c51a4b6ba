"""HTTP surface of the consent service: the one /consent router, made of each domain's routes,
plus the widget's assets, the GPC support statement and the CORS preflights."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute

from services.consent.assets import CMP_BRIDGES, WIDGET_CSS, WIDGET_JS, WIDGET_STRINGS
from services.consent.decisions.router import router as decisions_router
from services.consent.dependencies import limit_writes
from services.consent.exceptions import NoSuchBridge, NoSuchLanguage
from services.consent.http import CORS, SITE
from services.consent.notices.router import router as notices_router
from services.consent.preferences.router import router as preferences_router
from services.consent.preferences.service import widget_verification_mail
from services.consent.rights.router import router as rights_router
from services.consent.sites.router import router as sites_router
from services.consent.state.router import router as state_router
from services.consent.tokens.router import router as tokens_router
from services.consent.verification.router import register_mail_words
from services.consent.verification.router import router as verification_router
from shared.assets import asset_response
from shared.errors import problem_responses

# The widget's verification mail speaks the page's languages and the site's wording.
register_mail_words(widget_verification_mail)

# Every write about a site is rate limited per client and per site (limits/service.py).
router = APIRouter(tags=["consent"], dependencies=[Depends(limit_writes)])
router.include_router(preferences_router)

ASSET_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "X-Content-Type-Options": "nosniff",
}


@router.get("/.well-known/gpc.json", summary="Global Privacy Control support statement")
async def gpc_support() -> dict[str, object]:
    # https://privacycg.github.io/gpc-spec/#gpc-support-resource
    return {"gpc": True, "lastUpdate": "2026-11-24"}


@router.get(
    "/consent/widget.js",
    summary="The consent widget",
    response_class=Response,
    responses={200: {"content": {"text/javascript": {"schema": {"type": "string"}}}}},
)
async def widget_js(request: Request) -> Response:
    return asset_response(request, WIDGET_JS, headers=ASSET_HEADERS)


@router.get(
    "/consent/widget.css",
    summary="The consent widget's styles",
    response_class=Response,
    responses={200: {"content": {"text/css": {"schema": {"type": "string"}}}}},
)
async def widget_css(request: Request) -> Response:
    return asset_response(request, WIDGET_CSS, headers=ASSET_HEADERS)


@router.get(
    "/consent/i18n/{lang}.json",
    summary="The consent widget's words in one language (en, de, fr, es, it, nl)",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/json": {
                    "schema": {"type": "object", "additionalProperties": {"type": "string"}}
                }
            }
        },
        **problem_responses(404),
    },
)
async def widget_strings(request: Request, lang: str) -> Response:
    words = WIDGET_STRINGS.get(lang)
    if words is None:
        raise NoSuchLanguage()
    return asset_response(request, words, headers=ASSET_HEADERS)


@router.get(
    "/consent/cmp/{source}.js",
    summary="A bridge from another consent manager (Cookiebot, OneTrust, Klaro, cookieconsent)",
    response_class=Response,
    responses={
        200: {"content": {"text/javascript": {"schema": {"type": "string"}}}},
        **problem_responses(404),
    },
)
async def cmp_bridge(request: Request, source: str) -> Response:
    bridge = CMP_BRIDGES.get(source)
    if bridge is None:
        raise NoSuchBridge()
    return asset_response(request, bridge, headers=ASSET_HEADERS)


async def preflight() -> Response:
    return Response(
        status_code=204,
        headers={
            **CORS,
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Authorization, Content-Type, Sec-GPC",
            "Access-Control-Max-Age": "600",
        },
    )


# Preflight only where a cross-origin caller needs headers (Authorization, JSON); other
# paths keep their plain 404/405.
for _path in (
    "decisions",
    "state",
    "history",
    "tokens",
    "identity/email",
    "export",
    "erase",
    "preferences/handover",
):
    router.add_api_route(f"{SITE}/{_path}", preflight, methods=["OPTIONS"], include_in_schema=False)

for _domain_router in (
    notices_router,
    sites_router,
    decisions_router,
    state_router,
    tokens_router,
    verification_router,
    rights_router,
):
    router.include_router(_domain_router)

# limit_writes refuses any POST about a site with a 429: say so in every such operation.
for _route in router.routes:
    if isinstance(_route, APIRoute) and "POST" in (_route.methods or ()) and SITE in _route.path:
        _route.responses = {**_route.responses, **problem_responses(429)}
