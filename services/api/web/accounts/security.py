"""The second sign-in step (/app/login/totp) and the account page: the password changed
(the current one asked, every other session ended) and the second factor turned on (a QR
code, then a code from the app, then recovery codes shown once) or off."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from services.api.web.accounts import totp
from services.api.web.accounts.schemas import PasswordChangeForm, local_page
from services.api.web.accounts.service import AccountError, change_password, session_user
from services.api.web.auth import (
    SESSION_COOKIE,
    WebUser,
    csrf_protect,
    current_user,
    page_router,
    render,
)
from services.api.web.forms import form_fields, form_problem
from services.api.web.limits import login_refusal, refusal_page
from shared.runtime import Resources, ResourcesDep

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
        return refusal_page(request, refusal)
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
    return await _account(request, resources, user)


async def _account(
    request: Request,
    resources: Resources,
    user: WebUser,
    *,
    problem: str | None = None,
    password_problem: str | None = None,
    password_changed: bool = False,
    status: int = 200,
) -> Response:
    _, enabled = await totp.stored_secret(
        engine=resources.engine, server_secret=resources.settings.secret(), user_id=user.id
    )
    return render(
        request,
        "accounts/account.html",
        {
            "enabled": enabled,
            "problem": problem,
            "password_problem": password_problem,
            "password_changed": password_changed,
        },
        status=status,
    )


@router.post("/app/account/password", dependencies=[Depends(csrf_protect)])
async def password_change(
    request: Request, resources: ResourcesDep, user: Annotated[WebUser, Depends(current_user)]
) -> Response:
    """A new password for the signed-in user; counted like a sign-in (the current password
    is a guess like any other), and every other browser signed in as them is signed out."""
    fields = await form_fields(request)
    refusal = await login_refusal(request, resources, email=user.email)
    if refusal is not None:
        return refusal_page(request, refusal)
    try:
        form = PasswordChangeForm.model_validate(fields)
        await change_password(
            engine=resources.engine,
            user_id=user.id,
            current=form.current_password,
            new=form.new_password,
            keep_session=request.cookies.get(SESSION_COOKIE, ""),
        )
    except ValidationError as error:
        return await _account(
            request, resources, user, password_problem=form_problem(error), status=400
        )
    except AccountError as error:
        return await _account(
            request, resources, user, password_problem=f"{error}.".capitalize(), status=400
        )
    return await _account(request, resources, user, password_changed=True)


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
    step = totp.matching_step(secret, code)
    if step is None:
        return _enrol(request, user, secret, "That code is not right: try the next one.", 400)
    codes = await totp.enable(
        engine=resources.engine,
        server_secret=server_secret,
        user_id=user.id,
        secret=secret,
        step=step,
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
        return await _account(
            request,
            resources,
            user,
            problem="That code is not right: the second factor stays on.",
            status=400,
        )
    await totp.disable(engine=resources.engine, user_id=user.id)
    return RedirectResponse("/app/account", status_code=303)
