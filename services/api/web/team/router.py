"""/app/sites/{id}/settings/team (owners and admins: members, roles, invitations) and
/app/invitations/{token} (whoever opens the link: join, signed in or with a new account)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from services.api.web.accounts.schemas import NewAccountForm, check_link_token
from services.api.web.accounts.service import (
    AccountError,
    create_user,
)
from services.api.web.auth import (
    LoginRequired,
    NoSuchPage,
    Role,
    SiteAccess,
    WebUser,
    csrf_protect,
    current_user,
    page_router,
    render,
    site_access,
    start_session_and_go,
)
from services.api.web.forms import form_fields, form_problem
from services.api.web.team.rules import change_refused, grantable
from services.api.web.team.service import (
    accept_invitation,
    count_owners,
    invite,
    open_invitation,
    pending_invitations,
    set_member_role,
    site_members,
    withdraw_invitation,
)
from shared.runtime import ResourcesDep

router = page_router()
TeamAccess = Annotated[SiteAccess, Depends(site_access(Role.admin))]
TEAM = "/app/sites/{site_id}/settings/team"


async def team_page(
    request: Request,
    resources: ResourcesDep,
    access: SiteAccess,
    *,
    new_link: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    engine = resources.engine
    return render(
        request,
        "team/team.html",
        {
            "site": access.site,
            "role": access.role,
            "me": access.user,
            "members": await site_members(engine=engine, site_id=access.site.id),
            "invitations": await pending_invitations(engine=engine, site_id=access.site.id),
            "grantable": grantable(access.role),
            "new_link": new_link,
            "problem": problem,
        },
        status=status,
    )


@router.get(TEAM)
async def team(request: Request, resources: ResourcesDep, access: TeamAccess) -> Response:
    return await team_page(request, resources, access)


def _role(raw: str | None) -> Role | None:
    return Role(raw) if raw in {role.value for role in Role} else None


@router.post(TEAM + "/invitations", dependencies=[Depends(csrf_protect)])
async def create_invitation(
    request: Request, resources: ResourcesDep, access: TeamAccess
) -> Response:
    role = _role((await form_fields(request)).get("role"))
    if role is None or role not in grantable(access.role):
        return await team_page(
            request, resources, access, problem="You cannot invite with that role.", status=400
        )
    assert access.user is not None
    token = await invite(
        engine=resources.engine, site_id=access.site.id, role=role, invited_by=access.user.id
    )
    link = f"{resources.settings.base_url}/app/invitations/{token}"
    return await team_page(request, resources, access, new_link=link)


@router.post(TEAM + "/invitations/{invitation_id}/withdraw", dependencies=[Depends(csrf_protect)])
async def withdraw(
    resources: ResourcesDep,
    access: TeamAccess,
    invitation_id: Annotated[str, Path(max_length=32)],
) -> Response:
    if not await withdraw_invitation(
        engine=resources.engine, site_id=access.site.id, invitation_id=invitation_id
    ):
        raise NoSuchPage()
    return RedirectResponse(TEAM.format(site_id=access.site.id), status_code=303)


@router.post(TEAM + "/members/{user_id}", dependencies=[Depends(csrf_protect)])
async def change_member(
    request: Request, resources: ResourcesDep, access: TeamAccess, user_id: int
) -> Response:
    members = {
        m.user_id: m for m in await site_members(engine=resources.engine, site_id=access.site.id)
    }
    member = members.get(user_id)
    if member is None:
        raise NoSuchPage()
    wanted = (await form_fields(request)).get("role")
    new = None if wanted == "remove" else _role(wanted)
    if new is None and wanted != "remove":
        return await team_page(request, resources, access, problem="Choose a role.", status=400)
    refused = change_refused(
        actor=access.role,
        current=member.role,
        new=new,
        owners=await count_owners(engine=resources.engine, site_id=access.site.id),
    )
    if refused is not None:
        return await team_page(request, resources, access, problem=refused, status=403)
    await set_member_role(
        engine=resources.engine, site_id=access.site.id, user_id=user_id, role=new
    )
    if (
        access.user is not None
        and user_id == access.user.id
        and (new is None or not new.at_least(Role.admin))
    ):
        return RedirectResponse("/app/", status_code=303)  # left the team page's audience
    return RedirectResponse(TEAM.format(site_id=access.site.id), status_code=303)


# -- the invitation link -------------------------------------------------------------------


def _token(raw: str) -> str:
    try:
        return check_link_token(raw)
    except ValueError:
        raise NoSuchPage() from None


def _not_open(request: Request) -> Response:
    return render(
        request,
        "error.html",
        {
            "status": 404,
            "title": "This invitation does not open",
            "detail": "It was used already, withdrawn, or has expired: ask for a new one.",
        },
        status=404,
    )


async def _signed_in(request: Request, resources: ResourcesDep) -> WebUser | None:
    """The user when signed in, else None (this page serves both)."""
    try:
        return await current_user(request)
    except LoginRequired:
        return None


@router.get("/app/invitations/{token}")
async def invitation_page(request: Request, resources: ResourcesDep, token: str) -> Response:
    offer = await open_invitation(engine=resources.engine, token=_token(token))
    if offer is None:
        return _not_open(request)
    user = await _signed_in(request, resources)
    return render(
        request, "team/invitation.html", _invitation_context(offer, token, user, "", None)
    )


def _invitation_context(
    offer: Any, token: str, user: WebUser | None, email: str, problem: str | None
) -> dict[str, Any]:
    return {
        "offer": offer,
        "token": token,
        "signed_in": user,
        "email": email,
        "problem": problem,
        "login_link": f"/app/login?next=/app/invitations/{token}",
    }


@router.post("/app/invitations/{token}/accept", dependencies=[Depends(csrf_protect)])
async def accept(
    request: Request,
    resources: ResourcesDep,
    token: str,
    user: Annotated[WebUser, Depends(current_user)],
) -> Response:
    site_id = await accept_invitation(engine=resources.engine, token=_token(token), user_id=user.id)
    if site_id is None:
        return _not_open(request)
    return RedirectResponse(f"/app/sites/{site_id}", status_code=303)


@router.post("/app/invitations/{token}/signup", dependencies=[Depends(csrf_protect)])
async def sign_up(request: Request, resources: ResourcesDep, token: str) -> Response:
    offer = await open_invitation(engine=resources.engine, token=_token(token))
    if offer is None:
        return _not_open(request)
    fields = await form_fields(request)
    email = fields.get("email", "")[:320]
    try:
        form = NewAccountForm.model_validate(fields)
        account = await create_user(
            engine=resources.engine, email=form.email, password=form.password
        )
    except ValidationError as error:
        problem = form_problem(error)
    except AccountError:
        problem = "There is an account for this address already: sign in instead."
    else:
        site_id = await accept_invitation(engine=resources.engine, token=token, user_id=account.id)
        return await start_session_and_go(
            request, account.id, f"/app/sites/{site_id}" if site_id else "/app/"
        )
    return render(
        request,
        "team/invitation.html",
        _invitation_context(offer, token, None, email, problem),
        status=400,
    )
