"""Sign-in and sign-out (the signed-in user's home, their sites, is the dashboard's roll-up)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from services.api.web.accounts.schemas import LoginForm, local_page
from services.api.web.accounts.service import (
    authenticate_password,
    count_users,
    end_session,
)
from services.api.web.auth import (
    SESSION_COOKIE,
    csrf_protect,
    page_router,
    render,
    start_session_and_go,
)
from services.api.web.limits import login_refusal, refusal_page
from shared.runtime import ResourcesDep

router = page_router()


@router.get("/app/login")
async def login_page(request: Request, resources: ResourcesDep) -> Response:
    return render(
        request,
        "accounts/login.html",
        {
            "next": local_page(request.query_params.get("next")),
            "email": "",
            "problem": None,
            "no_users": await count_users(engine=resources.engine) == 0,
        },
    )


@router.post("/app/login", dependencies=[Depends(csrf_protect)])
async def login(request: Request, resources: ResourcesDep) -> Response:
    raw = await request.form()
    fields = {name: value for name, value in raw.items() if isinstance(value, str)}
    try:
        form = LoginForm.model_validate(fields)
    except ValidationError:
        return _login_again(request, fields, "Enter your e-mail address and your password.")
    refusal = await login_refusal(request, resources, email=form.email)
    if refusal is not None:
        return refusal_page(request, refusal)
    account = await authenticate_password(
        engine=resources.engine, email=form.email, password=form.password
    )
    if account is None:
        return _login_again(request, fields, "That e-mail address and password do not match.")
    target = form.next
    if account.totp_enabled:
        target = "/app/login/totp?next=" + quote(form.next, safe="/")
    return await start_session_and_go(
        request, account.id, target, pending_totp=account.totp_enabled
    )


def _login_again(request: Request, fields: dict[str, str], problem: str) -> Response:
    return render(
        request,
        "accounts/login.html",
        {
            "next": local_page(fields.get("next")),
            "email": fields.get("email", "")[:320],
            "problem": problem,
            "no_users": False,
        },
        status=400,
    )


@router.post("/app/logout", dependencies=[Depends(csrf_protect)])
async def logout(request: Request, resources: ResourcesDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await end_session(engine=resources.engine, token=token)
    response = RedirectResponse("/app/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
