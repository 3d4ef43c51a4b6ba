"""Who is asking, and what they may see: the web app's sign-in, roles, CSRF and page rendering.

Every page package builds on these names (and only these):

- `current_user`: a FastAPI dependency; signed out, the browser is sent (303) to
  /app/login?next=PATH.
- `site_access(minimum)`: a dependency factory for routes with a `{site_id}` path
  parameter; a user without a role on the site gets 404 (a site's existence is not
  disclosed), one with a lower role 403 naming the role the page needs.
- `csrf_protect`: a dependency for every unsafe method (form field `csrf_token`, or the
  `X-CSRF-Token` header htmx sends); 403 when it is missing or wrong.
- `render(request, template, context)`: the page, with the user, the CSRF token, the CSP
  nonce, the site switcher's list and `static_url`; under a strict Content-Security-Policy
  (scripts only from Overt, each carrying the request's nonce).
- `page_router()`: an APIRouter whose errors are pages for a browser (Accept: text/html:
  a 404 page, a redirect to sign-in) instead of problem+json; use it for every router of
  pages.

CSRF: a random value in an HttpOnly cookie (`overt_csrf`, set on the first page); the token
in forms is its HMAC under the server secret, so a page of another origin can neither read
nor forge it (the signed double-submit cookie pattern).

Cookies: /app's are SameSite=Lax (`set_cookie`). A shared link is made to be embedded as an
iframe on another site, where a Lax cookie is neither set nor sent; so /share's cookies
(its password's, and its own CSRF cookie `overt_share_csrf`, path /share/) are
`set_embeddable_cookie`'s: SameSite=None; Secure; Partitioned (CHIPS: kept per embedding
site, so they track nobody across sites) when the connection is HTTPS or the public URL
is, and Lax otherwise (a browser drops a SameSite=None cookie that is not Secure, so over
plain HTTP a link works when opened itself, not embedded).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path as FilePath
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment
from starlette.responses import Response

from services.api.web.accounts.service import (
    end_session,
    session_user,
    start_session,
    user_sites,
)
from services.api.web.assets import static_url
from shared.errors import ProblemError
from shared.runtime import get_resources
from shared.sites import Site
from shared.templates import template_environment

WEB = FilePath(__file__).parent
SESSION_COOKIE = "overt_session"
CSRF_COOKIE = "overt_csrf"
SHARE_PREFIX = "/share/"
SHARE_CSRF_COOKIE = "overt_share_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Role(StrEnum):
    """A user's role on a site, ordered owner > admin > viewer."""

    owner = "owner"
    admin = "admin"
    viewer = "viewer"

    @property
    def rank(self) -> int:
        return {"owner": 3, "admin": 2, "viewer": 1}[self.value]

    def at_least(self, minimum: Role) -> bool:
        return self.rank >= minimum.rank


@dataclass(frozen=True)
class WebUser:
    id: int
    email: str


@dataclass(frozen=True)
class SiteAccess:
    """What a page of one site may show: `shared` for a /share link (read-only, no user)."""

    user: WebUser | None
    site: Site
    role: Role
    shared: bool = False


class LoginRequired(ProblemError):
    """Signed out (or the session ended): 303 to the sign-in page, back here after it."""

    def __init__(self, next_path: str) -> None:
        location = "/app/login?next=" + quote(next_path, safe="/")
        super().__init__(
            303,
            "Sign-in required",
            slug="login-required",
            detail="Sign in to see this page.",
            headers={"Location": location, "HX-Redirect": location},
        )


class NoSuchPage(ProblemError):
    def __init__(self) -> None:
        super().__init__(404, "Not Found", slug="not-found", detail="There is no such page.")


class RoleRequired(ProblemError):
    """A member of the site whose role is below what the page needs: they know the site,
    so the page says which role would open it."""

    def __init__(self, minimum: Role, role: Role) -> None:
        who = "owners" if minimum is Role.owner else f"{minimum.value}s and owners"
        super().__init__(
            403,
            f"This page needs the {minimum.value} role",
            slug="role-required",
            detail=(
                f"You are a {role.value} of this site; this page is for its {who}. "
                "An owner of the site can change your role."
            ),
        )


class CsrfRefused(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            403,
            "Form expired or forged",
            slug="csrf",
            detail="The form's security token is missing or wrong: reload the page and retry.",
        )


def templates_folders() -> list[FilePath]:
    """web/templates, then every page package's templates/ (keep names unique: each package
    puts its files in a folder of its name, `dashboard/site.html`)."""
    return [WEB / "templates", *sorted(WEB.glob("*/templates"))]


_environment: Environment | None = None


def environment() -> Environment:
    global _environment
    if _environment is None:
        _environment = template_environment(*templates_folders())
        _environment.globals["static_url"] = static_url
    return _environment


# -- who is asking -------------------------------------------------------------------------


def is_secure(request: Request) -> bool:
    """Whether the browser reached Overt over HTTPS: this request was, or the public URL is
    (TLS ended at a proxy in front)."""
    public_url = get_resources(request).settings.base_url
    return request.url.scheme == "https" or public_url.startswith("https://")


def is_embeddable(request: Request) -> bool:
    """A /share page: made to be shown in another site's iframe."""
    return request.url.path.startswith(SHARE_PREFIX)


def request_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def current_user(request: Request) -> WebUser:
    """The signed-in user (and, for the page's site switcher, their sites), or 303 to sign-in."""
    cached: WebUser | None = getattr(request.state, "web_user", None)
    if cached is not None:
        return cached
    resources = get_resources(request)
    token = request.cookies.get(SESSION_COOKIE)
    found = await session_user(engine=resources.engine, token=token) if token else None
    if found is None or found.pending_totp:
        raise LoginRequired(request_path(request))
    user = WebUser(id=found.id, email=found.email)
    request.state.web_user = user
    request.state.web_sites = [
        (site, Role(role))
        for site, role in await user_sites(engine=resources.engine, user_id=user.id)
    ]
    return user


def site_access(minimum: Role) -> Callable[..., Awaitable[SiteAccess]]:
    """A dependency: the user's access to the path's site, when their role is at least
    `minimum`; 403 for a lower role, 404 without one (whether the site exists is not
    disclosed)."""

    async def dependency(
        request: Request,
        site_id: str = Path(min_length=1, max_length=32),
        user: WebUser = Depends(current_user),  # noqa: B008
    ) -> SiteAccess:
        for site, role in request.state.web_sites:
            if site.id != site_id:
                continue
            request.state.web_site = site
            if not role.at_least(minimum):
                raise RoleRequired(minimum, role)
            return SiteAccess(user=user, site=site, role=role, shared=False)
        raise NoSuchPage()

    return dependency


# -- CSRF ----------------------------------------------------------------------------------


def csrf_token_for(secret: bytes, seed: str) -> str:
    return hmac.new(secret, b"csrf:" + seed.encode(), hashlib.sha256).hexdigest()


def csrf_cookie(request: Request) -> str:
    """The CSRF cookie's name: a shared link's pages keep their own (an embeddable one)."""
    return SHARE_CSRF_COOKIE if is_embeddable(request) else CSRF_COOKIE


def csrf_seed(request: Request) -> str:
    """This browser's CSRF seed: its cookie's, or a new one `render` will set."""
    seed: str | None = getattr(request.state, "csrf_seed", None)
    if seed is None:
        seed = request.cookies.get(csrf_cookie(request)) or secrets.token_urlsafe(24)
        request.state.csrf_seed = seed
    return seed


async def csrf_protect(request: Request) -> None:
    """Refuse (403) an unsafe request whose token is missing or not this browser's."""
    if request.method in SAFE_METHODS:
        return
    seed = request.cookies.get(csrf_cookie(request))
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    secret = get_resources(request).settings.secret()
    if not seed or not given or not hmac.compare_digest(given, csrf_token_for(secret, seed)):
        raise CsrfRefused()


# -- pages ---------------------------------------------------------------------------------


def content_security_policy(nonce: str, *, frame_ancestors: str = "'none'") -> str:
    """Scripts: only those carrying this response's nonce (all of them Overt's own files);
    no inline script, no eval, no inline style element; forms post to Overt only."""
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; "
        f"frame-ancestors {frame_ancestors}; base-uri 'none'"
    )


def page_headers(nonce: str, *, frame_ancestors: str = "'none'") -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(nonce, frame_ancestors=frame_ancestors),
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    if frame_ancestors == "'none'":
        headers["X-Frame-Options"] = "DENY"
    return headers


def set_cookie(response: Response, request: Request, name: str, value: str, **extra: Any) -> None:
    """Every cookie of /app: HttpOnly, SameSite=Lax, Secure over HTTPS."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
        path="/",
        **extra,
    )


def set_embeddable_cookie(response: Response, request: Request, name: str, value: str) -> None:
    """A cookie of /share, which must work in another site's iframe: HttpOnly; over HTTPS
    SameSite=None; Secure; Partitioned, else SameSite=Lax (see the module's docstring).
    Written by hand: Starlette sets Partitioned only on Python 3.14 and later. `value` is
    Overt's own (URL-safe base64 or hex), nothing to quote."""
    attributes = (
        ["SameSite=None", "Secure", "Partitioned"] if is_secure(request) else ["SameSite=Lax"]
    )
    response.headers.append(
        "set-cookie",
        "; ".join([f"{name}={value}", "HttpOnly", f"Path={SHARE_PREFIX}", *attributes]),
    )


async def start_session_and_go(
    request: Request, user_id: int, location: str, *, pending_totp: bool = False
) -> Response:
    """Sign the browser in as the user (a new session in its cookie) and send it on; the
    session the browser held before ends (a session id is never carried across a sign-in)."""
    engine = get_resources(request).engine
    earlier = request.cookies.get(SESSION_COOKIE)
    if earlier:
        await end_session(engine=engine, token=earlier)
    token = await start_session(engine=engine, user_id=user_id, pending_totp=pending_totp)
    response = RedirectResponse(location, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, token)
    return response


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    frame_ancestors: str = "'none'",
) -> HTMLResponse:
    """The page: `template` with `context` and what base.html needs, under the CSP."""
    nonce = secrets.token_urlsafe(18)
    seed = csrf_seed(request)
    secret = get_resources(request).settings.secret()
    full: dict[str, Any] = {
        "request": request,
        "user": getattr(request.state, "web_user", None),
        "user_sites": getattr(request.state, "web_sites", []),
        "current_site": getattr(request.state, "web_site", None),
        "csrf_token": csrf_token_for(secret, seed),
        "csp_nonce": nonce,
        **context,
    }
    body = environment().get_template(template).render(full)
    response = HTMLResponse(
        body,
        status_code=status,
        headers={**page_headers(nonce, frame_ancestors=frame_ancestors), **(headers or {})},
    )
    if request.cookies.get(csrf_cookie(request)) != seed:
        if is_embeddable(request):
            set_embeddable_cookie(response, request, SHARE_CSRF_COOKIE, seed)
        else:
            set_cookie(response, request, CSRF_COOKIE, seed)
    return response


def wants_page(request: Request) -> bool:
    """Whether an error should be a page: a browser's request (Accept: text/html, or
    htmx's, which sends no Accept of its own); any other client gets problem+json."""
    return "text/html" in request.headers.get("accept", "") or "HX-Request" in request.headers


class PageRoute(APIRoute):
    """A route of pages: for a browser (`wants_page`) a refusal becomes what it should
    show (the sign-in redirect as a plain 303, other problems as an error page); any other
    client gets the problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except ProblemError as problem:
                if not wants_page(request):
                    raise
                return problem_page(request, problem)

        return page_handler


def problem_page(request: Request, problem: ProblemError) -> Response:
    if problem.status in (301, 302, 303, 307, 308):
        location = (problem.headers or {}).get("Location", "/app/")
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": location})
        return RedirectResponse(location, status_code=problem.status)
    extra = {k: v for k, v in (problem.headers or {}).items() if k.lower() == "retry-after"}
    return render(
        request,
        "error.html",
        {"status": problem.status, "title": problem.title, "detail": problem.detail},
        status=problem.status,
        headers=extra,
    )


def page_router(**kwargs: Any) -> APIRouter:
    """An APIRouter for pages (see PageRoute); not in the OpenAPI document."""
    return APIRouter(route_class=PageRoute, include_in_schema=False, **kwargs)
