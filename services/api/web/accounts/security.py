"""The second sign-in step (/app/login/totp) and the account page where the second factor
is turned on (a QR code, then a code from the app, then recovery codes shown once) or off."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.api.web.accounts import totp
from services.api.web.accounts.schemas import local_page
from services.api.web.accounts.service import session_user
from services.api.web.auth import (
    SESSION_COOKIE,
    WebUser,
    csrf_protect,
    current_user,
    page_router,
    render,
)
from services.api.web.forms import form_fields
from services.api.web.limits import login_refusal
from shared.runtime import ResourcesDep

router = page_router()
MAX_CODE_CHARS = 32


# -- the second step of signing in ---------------------------------------------------------


@router.get("/app/login/totp")
async def totp_page(request: Request, resources: ResourcesDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    pending = await session_user(engine=resources.engine, token=token) if token else None
    if pending is None or not pending.pending_totp:
        return RedirectResponse("/app/login", status_code=303)
    return render(
        request,
        "accounts/totp.html",
        {"next": local_page(request.query_params.get("next")), "problem": None},
    )


@router.post("/app/login/totp", dependencies=[Depends(csrf_protect)])
async def totp_step(request: Request, resources: ResourcesDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    pending = await session_user(engine=resources.engine, token=token) if token else None
    if token is None or pending is None or not pending.pending_totp:
        return RedirectResponse("/app/login", status_code=303)
    fields = await form_fields(request)
    next_page = local_page(fields.get("next"))
    refusal = await login_refusal(request, resources, email=pending.email)
    if refusal is not None:
        return render(
            request,
            "error.html",
            {"status": 429, "title": "Too many sign-in attempts", "detail": refusal.detail},
            status=429,
            headers={"Retry-After": str(refusal.retry_after_s)},
        )
    code = fields.get("code", "")[:MAX_CODE_CHARS]
    if not await totp.second_factor_ok(
        engine=resources.engine,
        server_secret=resources.settings.secret(),
        user_id=pending.id,
        code=code,
    ):
        return render(
            request,
            "accounts/totp.html",
            {"next": next_page, "problem": "That code is not right (or was used already)."},
            status=400,
        )
    await totp.complete_session(engine=resources.engine, token=token)
    return RedirectResponse(next_page, status_code=303)


# -- the account page ----------------------------------------------------------------------


@router.get("/app/account")
async def account_page(
    request: Request, resources: ResourcesDep, user: Annotated[WebUser, Depends(current_user)]
) -> Response:
    _, enabled = await totp.stored_secret(
        engine=resources.engine, server_secret=resources.settings.secret(), user_id=user.id
    )
    return render(request, "accounts/account.html", {"enabled": enabled, "problem": None})


@router.post("/app/account/totp/start", dependencies=[Depends(csrf_protect)])
async def totp_start(
    request: Request, resources: ResourcesDep, user: Annotated[WebUser, Depends(current_user)]
) -> Response:
    secret = totp.new_secret()
    await totp.store_pending(
        engine=resources.engine,
        server_secret=resources.settings.secret(),
        user_id=user.id,
        secret=secret,
    )
    return _enrol(request, user, secret, None, 200)


def _enrol(
    request: Request, user: WebUser, secret: str, problem: str | None, status: int
) -> Response:
    uri = totp.provisioning_uri(secret, user.email)
    return render(
        request,
        "accounts/totp_enrol.html",
        {"qr": totp.qr_svg(uri), "secret": secret, "problem": problem},
        status=status,
    )


@router.post("/app/account/totp/enable", dependencies=[Depends(csrf_protect)])
async def totp_enable(
    request: Request, resources: ResourcesDep, user: Annotated[WebUser, Depends(current_user)]
) -> Response:
    server_secret = resources.settings.secret()
    secret, enabled = await totp.stored_secret(
        engine=resources.engine, server_secret=server_secret, user_id=user.id
    )
    if secret is None or enabled:
        return RedirectResponse("/app/account", status_code=303)
    code = (await form_fields(request)).get("code", "")[:MAX_CODE_CHARS]
    if not totp.code_matches(secret, code):
        return _enrol(request, user, secret, "That code is not right: try the next one.", 400)
    codes = await totp.enable(
        engine=resources.engine, server_secret=server_secret, user_id=user.id, secret=secret
    )
    return render(request, "accounts/recovery.html", {"codes": codes})


@router.post("/app/account/totp/disable", dependencies=[Depends(csrf_protect)])
async def totp_disable(
    request: Request, resources: ResourcesDep, user: Annotated[WebUser, Depends(current_user)]
) -> Response:
    code = (await form_fields(request)).get("code", "")[:MAX_CODE_CHARS]
    if not await totp.second_factor_ok(
        engine=resources.engine,
        server_secret=resources.settings.secret(),
        user_id=user.id,
        code=code,
    ):
        return render(
            request,
            "accounts/account.html",
            {"enabled": True, "problem": "That code is not right: the second factor stays on."},
            status=400,
        )
    await totp.disable(engine=resources.engine, user_id=user.id)
    return RedirectResponse("/app/account", status_code=303)
