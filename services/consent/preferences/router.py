"""The hosted preference page: server-rendered, no JavaScript needed, CSRF-protected forms.

The visitor's subject credential lives in an HttpOnly cookie scoped to the site's path on
the Overt host. Every form carries a token bound (HMAC) to a random per-browser cookie,
and a cross-origin Origin header is refused, so another site cannot post for the visitor.
The one form without a token, the widget's "open my preferences" post, must come from the
site's own pages: otherwise any page could log the visitor in as someone else (login CSRF).
"""

from __future__ import annotations

import secrets as secrets_module
from collections.abc import Mapping
from functools import partial
from typing import Annotated
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from services.consent.assets import PREFERENCES_CSS
from services.consent.crypto import derive_key, hmac_hex, same, utc_text
from services.consent.decisions.service import record_decisions
from services.consent.dependencies import BudgetDep, GpcDep, MailDep, SiteDep, SubjectDep
from services.consent.exceptions import BadBody
from services.consent.http import CORS, origin_host, referer_host
from services.consent.identities.service import get_identity
from services.consent.languages import page_language, spoken_language
from services.consent.ledger.service import LedgerEntry, Method, subject_entries
from services.consent.notices.service import get_notice
from services.consent.preferences.exceptions import CrossSiteSession, CsrfFailed
from services.consent.preferences.handover import (
    HANDOVER,
    SESSION,
    Refusal,
    handover_token,
    is_session,
    session_token,
    subject_of,
)
from services.consent.preferences.schemas import HandoverOut
from services.consent.preferences.service import (
    N_,
    render_address_confirmed,
    render_confirm_address,
    render_handover_refused,
    render_page,
    verification_mail,
)
from services.consent.receipts.service import subject_receipts
from services.consent.rights.router import export_file
from services.consent.rights.service import erase_subject, export_subject
from services.consent.state.service import consent_state
from services.consent.subjects.exceptions import InvalidSubject, SubjectRequired
from services.consent.subjects.service import authenticate_subject, create_subject
from services.consent.verification.exceptions import InvalidVerificationLink
from services.consent.verification.service import (
    confirm_email,
    pending_email,
    request_email_verification,
)
from shared.assets import asset_response
from shared.docs import cookie_parameters, form_body, page, redirect
from shared.errors import problem_responses
from shared.runtime import Resources, ResourcesDep
from shared.sites import Site
from shared.subject_records import Recipient, subject_recipients

router = APIRouter(tags=["preference page"])

PAGE = "/consent/sites/{site_id}/preferences"
SUBJECT_COOKIE = "overt_subject"
CSRF_COOKIE = "overt_csrf"
MAX_FORM = 8 * 1024
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
MESSAGES = {
    "saved": N_("Your choices are saved. A signed receipt is listed below."),
    "erased": N_(
        "Everything linked to you was erased. Only a record that an erasure "
        "happened remains, without anything that identifies you."
    ),
    "mail": N_("We sent you a link. Open it to confirm your address."),
    "session": N_("Your choices from this site are shown below."),
}
# The page's cookies and its forms' fields, as OpenAPI documents them.
COOKIES = cookie_parameters(
    {
        SUBJECT_COOKIE: "the visitor's subject credential, or a session a hand-over opened",
        CSRF_COOKIE: "the per-browser nonce the forms' `csrf` field is bound to",
    }
)
CSRF_FIELD = {"csrf": "the form token of the page the form came from"}
LANG_FIELD = {"lang": "the language the page was shown in (kept on the way back)"}
SUBJECT_COOKIE_SET = "the page's cookie (`overt_subject`), when a visitor was made or opened"


def csrf_token(secret: bytes, site_id: str, nonce: str) -> str:
    return hmac_hex(derive_key(secret, "csrf v1"), f"{site_id}|{nonce}".encode())


def site_path(site_id: str) -> str:
    return f"/consent/sites/{site_id}/"


def _secure(request: Request) -> bool:
    settings = request.app.state.resources.settings
    return request.url.scheme == "https" or settings.base_url.startswith("https://")


def set_subject_cookie(response: Response, request: Request, site_id: str, held: str) -> None:
    """The page's cookie: a subject credential, or a session a hand-over opened."""
    response.set_cookie(
        SUBJECT_COOKIE,
        held,
        max_age=400 * 24 * 3600,
        path=site_path(site_id),
        httponly=True,
        secure=_secure(request),
        samesite="lax",
    )


async def read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise BadBody("Send the form as application/x-www-form-urlencoded.")
    body = await request.body()
    if len(body) > MAX_FORM:
        raise BadBody("The form is too large.")
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items()}


def own_hosts(request: Request) -> tuple[str, str]:
    """Overt's own `host[:port]`: as this request reached it, and as the public base URL says.

    Compared as hosts, not origins: behind a TLS-terminating proxy the app sees http.
    """
    public = urlsplit(request.app.state.resources.settings.base_url).netloc.lower()
    return request.headers.get("host", "").lower(), public


def check_csrf(request: Request, form: Mapping[str, str], secret: bytes, site_id: str) -> None:
    """Refuse a post without the form token bound to this browser, or from another origin."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin_host(origin) not in own_hosts(request):
        raise CsrfFailed()
    nonce = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get("csrf", "")
    if not nonce or not sent or not same(sent, csrf_token(secret, site_id, nonce)):
        raise CsrfFailed()


def check_session_origin(request: Request, site: Site) -> None:
    """Refuse a credential post unless it comes from the site's own pages or from Overt's.

    Without this, an attacker's page could post the attacker's credential: the victim's
    browser would then hold the attacker's subject, and an address the victim links next
    would be read by the attacker's export (login CSRF). Browsers send Origin on every
    POST; a missing or opaque (`null`) one cannot be told apart from an attacker's.
    """
    host = origin_host(request.headers.get("origin", ""))
    if host is None:
        raise CrossSiteSession()
    if host in own_hosts(request):
        return
    hostname = urlsplit(f"//{host}").hostname or ""
    if not site.owns_host(hostname):
        raise CrossSiteSession()


async def cookie_subject(request: Request, resources: Resources, site_id: str) -> str | None:
    """The subject of the page's cookie: a session the widget's hand-over opened, or the
    credential a form post (or the older credential post) set."""
    held = request.cookies.get(SUBJECT_COOKIE)
    if not held:
        return None
    if is_session(held):
        subject = await subject_of(
            engine=resources.engine,
            secret=resources.settings.secret(),
            site_id=site_id,
            token=held,
            purpose=SESSION,
        )
        return subject if isinstance(subject, str) else None
    return await authenticate_subject(engine=resources.engine, site_id=site_id, credential=held)


@router.get("/consent/preferences.css", include_in_schema=False)
async def stylesheet(request: Request) -> Response:
    return asset_response(request, PREFERENCES_CSS, headers={"X-Content-Type-Options": "nosniff"})


@router.get(
    PAGE,
    summary="The preference page (HTML, works without JavaScript)",
    response_class=HTMLResponse,
    responses=problem_responses(404),
    openapi_extra=COOKIES,
)
async def preference_page(
    request: Request,
    site: SiteDep,
    resources: ResourcesDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
    lang: Annotated[str | None, Query(max_length=35)] = None,
) -> Response:
    secret = resources.settings.secret()
    nonce = request.cookies.get(CSRF_COOKIE) or secrets_module.token_urlsafe(24)
    subject_id = await cookie_subject(request, resources, site.id)
    notice = await get_notice(engine=resources.engine, site_id=site.id)
    entries: list[LedgerEntry] = []
    receipts: list[dict[str, object]] = []
    identity = None
    recipients: list[Recipient] = []
    if subject_id is not None:
        async with resources.engine.connect() as conn:
            entries = await subject_entries(conn=conn, site_id=site.id, subject_id=subject_id)
            receipts = await subject_receipts(conn=conn, site_id=site.id, subject_id=subject_id)
            recipients = await subject_recipients(conn=conn, site_id=site.id, subject_id=subject_id)
        identity = await get_identity(resources=resources, site_id=site.id, subject_id=subject_id)
    states = await consent_state(
        engine=resources.engine, site_id=site.id, subject_id=subject_id or "-"
    )
    page = render_page(
        site=site,
        csrf=csrf_token(secret, site.id, nonce),
        subject_id=subject_id,
        states=states,
        entries=entries,
        receipts=receipts,
        identity=identity,
        recipients=recipients,
        notice_version=notice.version,
        message=MESSAGES.get(done or ""),
        lang=page_language(lang, request.headers.get("accept-language")),
        keep_lang=lang is not None,
    )
    response = HTMLResponse(page, headers=PAGE_HEADERS)
    response.set_cookie(
        CSRF_COOKIE,
        nonce,
        path="/consent/",
        httponly=True,
        secure=_secure(request),
        samesite="strict",
    )
    if request.cookies.get(SUBJECT_COOKIE) and subject_id is None:
        response.delete_cookie(SUBJECT_COOKIE, path=site_path(site.id))
    return response


def browser_language(request: Request) -> str:
    return page_language(None, request.headers.get("accept-language"))


def form_language(request: Request, form: Mapping[str, str]) -> str:
    """The language a form was shown in: the one its link chose, else the browser's."""
    return page_language(form.get("lang"), request.headers.get("accept-language"))


def back(site_id: str, done: str, form: Mapping[str, str] | None = None) -> RedirectResponse:
    """Back to the page, saying what was done, in the language the form was shown in."""
    asked = (form or {}).get("lang")
    lang = f"&lang={spoken_language(asked)}" if asked else ""
    return RedirectResponse(f"/consent/sites/{site_id}/preferences?done={done}{lang}", 303)


@router.post(
    PAGE + "/choices",
    summary="Allow or withdraw one purpose (form post)",
    response_class=RedirectResponse,
    status_code=303,
    responses={
        303: redirect("Saved: back to the page", sets_cookie=SUBJECT_COOKIE_SET),
        **problem_responses(400, 403, 404, 422),
    },
    openapi_extra={
        **form_body(
            {
                **CSRF_FIELD,
                "grant": "the purpose to allow (or send `withdraw`)",
                "withdraw": "the purpose to withdraw (or send `grant`)",
                **LANG_FIELD,
            },
            required=("csrf",),
        ),
        **COOKIES,
    },
)
async def choose(
    request: Request,
    site: SiteDep,
    resources: ResourcesDep,
    gpc: GpcDep,
) -> Response:
    form = await read_form(request)
    check_csrf(request, form, resources.settings.secret(), site.id)
    if "grant" in form:
        choices = {form["grant"]: True}
    elif "withdraw" in form:
        choices = {form["withdraw"]: False}
    else:
        raise BadBody("Choose a purpose to allow or withdraw.")
    subject_id = await cookie_subject(request, resources, site.id)
    credential = None
    if subject_id is None:
        made = await create_subject(engine=resources.engine, site_id=site.id)
        subject_id, credential = made.subject_id, made.credential
    await record_decisions(
        resources=resources,
        site=site,
        subject_id=subject_id,
        choices=choices,
        method=Method.preference_page,
        gpc=gpc,
    )
    response = back(site.id, "saved", form)
    if credential:
        set_subject_cookie(response, request, site.id, credential)
    return response


async def _required_subject(request: Request, resources: Resources, site_id: str) -> str:
    subject_id = await cookie_subject(request, resources, site_id)
    if subject_id is None:
        raise SubjectRequired() if not request.cookies.get(SUBJECT_COOKIE) else InvalidSubject()
    return subject_id


@router.post(
    PAGE + "/export",
    summary="Download everything held about the visitor (form post)",
    responses=problem_responses(400, 401, 403, 404),
    openapi_extra={**form_body({**CSRF_FIELD, **LANG_FIELD}, required=("csrf",)), **COOKIES},
)
async def export_download(request: Request, site: SiteDep, resources: ResourcesDep) -> Response:
    form = await read_form(request)
    check_csrf(request, form, resources.settings.secret(), site.id)
    subject_id = await _required_subject(request, resources, site.id)
    data = await export_subject(resources=resources, site=site, subject_id=subject_id)
    return export_file(data, site.id)


@router.post(
    PAGE + "/erase",
    operation_id="erasePreferencePageForm",
    summary="Erase the visitor's identity and links (form post)",
    response_class=RedirectResponse,
    status_code=303,
    responses={
        303: redirect("Erased: back to the page, the page's cookie removed"),
        **problem_responses(400, 401, 403, 404),
    },
    openapi_extra={
        **form_body(
            {**CSRF_FIELD, "confirm": "`yes`: the visitor ticked the box", **LANG_FIELD},
            required=("csrf", "confirm"),
        ),
        **COOKIES,
    },
)
async def erase(request: Request, site: SiteDep, resources: ResourcesDep) -> Response:
    form = await read_form(request)
    check_csrf(request, form, resources.settings.secret(), site.id)
    if form.get("confirm") != "yes":
        raise BadBody("Tick the box to confirm the erasure.")
    subject_id = await _required_subject(request, resources, site.id)
    await erase_subject(
        resources=resources, site=site, subject_id=subject_id, method=Method.preference_page
    )
    response = back(site.id, "erased", form)
    response.delete_cookie(SUBJECT_COOKIE, path=site_path(site.id))
    return response


@router.post(
    PAGE + "/email",
    summary="Mail a confirmation link for an e-mail address (form post)",
    response_class=RedirectResponse,
    status_code=303,
    responses={
        303: redirect("Mailed (or, under GPC, nothing linked): back to the page"),
        **problem_responses(400, 401, 403, 404, 422, 429),
    },
    openapi_extra={
        **form_body(
            {**CSRF_FIELD, "email": "the address to confirm", **LANG_FIELD},
            required=("csrf", "email"),
        ),
        **COOKIES,
    },
)
async def email(
    request: Request,
    site: SiteDep,
    resources: ResourcesDep,
    mail: MailDep,
    budget: BudgetDep,
    gpc: GpcDep,
) -> Response:
    form = await read_form(request)
    check_csrf(request, form, resources.settings.secret(), site.id)
    subject_id = await _required_subject(request, resources, site.id)
    if gpc:
        await record_decisions(
            resources=resources,
            site=site,
            subject_id=subject_id,
            choices={},
            method=Method.gpc,
            gpc=True,
        )
        return back(site.id, "saved", form)
    await request_email_verification(
        resources=resources,
        site=site,
        subject_id=subject_id,
        email=form.get("email", ""),
        mail=mail,
        budget=budget,
        compose=partial(verification_mail, site, form_language(request, form)),
    )
    return back(site.id, "mail", form)


@router.post(
    PAGE + "/session",
    summary="Open the preference page with the credential the widget holds (form post from "
    "the site's pages)",
    response_class=RedirectResponse,
    status_code=303,
    responses={
        303: redirect(
            "Opened: the page, on the credential's choices", sets_cookie=SUBJECT_COOKIE_SET
        ),
        **problem_responses(400, 401, 403, 404),
    },
    openapi_extra=form_body(
        {"credential": "the subject credential the widget holds", **LANG_FIELD},
        required=("credential",),
    ),
)
async def session(request: Request, site: SiteDep, resources: ResourcesDep) -> Response:
    # No form token here (the widget posts from the site's page, which cannot hold one): the
    # credential proves the subject, and the Origin proves the post comes from the site.
    check_session_origin(request, site)
    form = await read_form(request)
    credential = form.get("credential", "")
    subject_id = await authenticate_subject(
        engine=resources.engine, site_id=site.id, credential=credential
    )
    if subject_id is None:
        raise InvalidSubject()
    response = back(site.id, "session", form)
    set_subject_cookie(response, request, site.id, credential)
    return response


def from_the_site(request: Request, site: Site) -> bool:
    """Whether a hand-over link was followed from the site's pages (or Overt's own).

    The widget's link sends the page's origin whatever the site's Referrer-Policy
    (referrerpolicy="origin"); a link from a mail or another site does not name the site,
    and is refused, so nobody can open their own choices in someone else's browser."""
    host = referer_host(request.headers.get("referer", ""))
    if host is None:
        return False
    if host in own_hosts(request):
        return True
    return site.owns_host(urlsplit(f"//{host}").hostname or "")


@router.post(
    PAGE + "/handover",
    summary="A hand-over link to the preference page, valid ten minutes (the widget's "
    '"see your history" link)',
    responses=problem_responses(401, 404),
)
async def handover(subject: SubjectDep, resources: ResourcesDep, response: Response) -> HandoverOut:
    response.headers.update(CORS)
    token, expires = handover_token(
        secret=resources.settings.secret(),
        site_id=subject.site.id,
        subject_id=subject.subject_id,
    )
    url = f"/consent/sites/{subject.site.id}/preferences/open?{urlencode({'token': token})}"
    return HandoverOut(url=url, expires_at=utc_text(expires) or "")


@router.get(
    PAGE + "/open",
    summary="Open the preference page on the choices of the visitor the widget handed over",
    response_class=RedirectResponse,
    status_code=303,
    responses={
        303: redirect(
            "Opened: the page, on the handed-over visitor's choices", sets_cookie=SUBJECT_COOKIE_SET
        ),
        400: page("a link that is not a hand-over (HTML page)"),
        403: page("a link not followed from the site (HTML page)"),
        404: problem_responses(404)[404],
        410: page("an expired or already opened link, or the visitor was erased (HTML page)"),
    },
)
async def open_handover(
    request: Request,
    site: SiteDep,
    resources: ResourcesDep,
    token: Annotated[str, Query(max_length=2048)] = "",
    lang: Annotated[str | None, Query(max_length=35)] = None,
) -> Response:
    secret = resources.settings.secret()
    subject: str | Refusal = Refusal("elsewhere")
    if from_the_site(request, site):
        subject = await subject_of(
            engine=resources.engine, secret=secret, site_id=site.id, token=token, purpose=HANDOVER
        )
    if isinstance(subject, Refusal):
        status = REFUSAL_STATUS.get(subject.reason, 400)
        page = render_handover_refused(
            site=site,
            reason=subject.reason,
            lang=page_language(lang, request.headers.get("accept-language")),
        )
        return HTMLResponse(page, status_code=status, headers=PAGE_HEADERS)
    response = back(site.id, "session", {"lang": lang} if lang else None)
    session = session_token(secret=secret, site_id=site.id, subject_id=subject)
    set_subject_cookie(response, request, site.id, session)
    return response


REFUSAL_STATUS = {"elsewhere": 403, "expired": 410, "erased": 410, "used": 410}

VERIFY = "/consent/sites/{site_id}/identity/verify"


@router.get(
    VERIFY,
    summary="An e-mail verification link: shows what it would link, asks to confirm",
    response_class=HTMLResponse,
    responses=problem_responses(400, 404),
)
async def verify_email_page(
    request: Request,
    site: SiteDep,
    resources: ResourcesDep,
    token: Annotated[str, Query(min_length=16, max_length=128)],
) -> Response:
    # A GET changes nothing: mail scanners open links on their own.
    address = await pending_email(resources=resources, site=site, token=token)
    page = render_confirm_address(
        site=site, address=address, token=token, lang=browser_language(request)
    )
    return HTMLResponse(page, headers=PAGE_HEADERS)


@router.post(
    VERIFY,
    summary="Confirm an e-mail verification link (form post; the link's token is the proof)",
    response_class=HTMLResponse,
    responses=problem_responses(400, 403, 404),
    openapi_extra=form_body({"token": "the verification link's token"}, required=("token",)),
)
async def verify_email(request: Request, site: SiteDep, resources: ResourcesDep) -> Response:
    form = await read_form(request)
    token = form.get("token", "")
    if not 16 <= len(token) <= 128:
        raise InvalidVerificationLink()
    identity = await confirm_email(resources=resources, site=site, token=token)
    page = render_address_confirmed(
        site=site, address=identity.value, lang=browser_language(request)
    )
    return HTMLResponse(page, headers=PAGE_HEADERS)
