"""The hosted preference page: server-rendered, no JavaScript needed, CSRF-protected forms.

The visitor's subject credential lives in an HttpOnly cookie scoped to the site's path on
the Overt host. Every form carries a token bound (HMAC) to a random per-browser cookie,
and a cross-origin Origin header is refused, so another site cannot post for the visitor.
"""

from __future__ import annotations

import html
import secrets as secrets_module
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

import orjson
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from services.consent.crypto import derive_key, hmac_hex, same, utc_text
from services.consent.dependencies import MailDep, SiteDep
from services.consent.exceptions import (
    BadBody,
    CsrfFailed,
    InvalidSubject,
    InvalidVerificationLink,
    SubjectRequired,
)
from services.consent.identities import (
    Identity,
    confirm_email,
    get_identity,
    pending_email,
    request_email_verification,
)
from services.consent.ledger import LedgerEntry, Method, subject_entries
from services.consent.receipts import subject_receipts
from services.consent.rights import erase_subject, export_subject
from services.consent.service import (
    PurposeState,
    authenticate_subject,
    consent_state,
    create_subject,
    get_notice,
    record_decisions,
)
from shared.errors import problem_responses
from shared.runtime import Resources, ResourcesDep
from shared.sites import Site

router = APIRouter(tags=["preference page"])

PAGE = "/consent/sites/{site_id}/preferences"
SUBJECT_COOKIE = "overt_subject"
CSRF_COOKIE = "overt_csrf"
MAX_FORM = 8 * 1024
STYLESHEET = (Path(__file__).parent / "static" / "preferences.css").read_bytes()
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
    "saved": "Your choices are saved. A signed receipt is listed below.",
    "erased": "Everything linked to you was erased. Only a record that an erasure "
    "happened remains, without anything that identifies you.",
    "mail": "We sent you a link. Open it to confirm your address.",
    "session": "Your choices from this site are shown below.",
}


def csrf_token(secret: bytes, site_id: str, nonce: str) -> str:
    return hmac_hex(derive_key(secret, "csrf v1"), f"{site_id}|{nonce}".encode())


def site_path(site_id: str) -> str:
    return f"/consent/sites/{site_id}/"


def _secure(request: Request) -> bool:
    settings = request.app.state.resources.settings
    return request.url.scheme == "https" or settings.base_url.startswith("https://")


def set_subject_cookie(response: Response, request: Request, site_id: str, credential: str) -> None:
    response.set_cookie(
        SUBJECT_COOKIE,
        credential,
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


def check_csrf(request: Request, form: Mapping[str, str], secret: bytes, site_id: str) -> None:
    """Refuse a post without the form token bound to this browser, or from another origin."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        # Compare hosts, not schemes: behind a TLS-terminating proxy the app sees http.
        public = urlsplit(request.app.state.resources.settings.base_url).netloc
        if urlsplit(origin).netloc not in (request.headers.get("host", ""), public):
            raise CsrfFailed()
    nonce = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get("csrf", "")
    if not nonce or not sent or not same(sent, csrf_token(secret, site_id, nonce)):
        raise CsrfFailed()


async def cookie_subject(request: Request, resources: Resources, site_id: str) -> str | None:
    credential = request.cookies.get(SUBJECT_COOKIE)
    if not credential:
        return None
    return await authenticate_subject(
        engine=resources.engine, site_id=site_id, credential=credential
    )


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def layout(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>"
        '<link rel="stylesheet" href="/consent/preferences.css"></head>'
        f'<body><main id="main">{body}</main></body></html>'
    )


def _form(site_id: str, action: str, csrf: str, inner: str, label: str | None = None) -> str:
    attrs = f' aria-label="{esc(label)}"' if label else ""
    return (
        f'<form method="post" action="/consent/sites/{esc(site_id)}/preferences/{action}"{attrs}>'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">{inner}</form>'
    )


STATUS_WORDS = {
    None: "Not decided",
    "given": "Allowed",
    "refused": "Not allowed",
    "withdrawn": "Withdrawn",
    "expired": "Expired, asked again",
    "gpc_opt_out": "Refused by your browser's Global Privacy Control",
    "erased": "Erased",
}


def render_page(
    *,
    site: Site,
    csrf: str,
    subject_id: str | None,
    states: Sequence[PurposeState],
    entries: Sequence[LedgerEntry],
    receipts: Sequence[Mapping[str, object]],
    identity: Identity | None,
    notice_version: int,
    message: str | None,
) -> str:
    parts = [f"<h1>Your privacy choices for {esc(site.domain)}</h1>"]
    if message:
        parts.append(f'<p class="notice" role="status">{esc(message)}</p>')
    parts.append(
        "<p>Nothing here is needed to use the site. You can change every choice at any time; "
        "withdrawing is one click, like allowing.</p>"
    )
    parts.append(f"<h2>Choices (notice version {notice_version})</h2>")
    for state in states:
        purpose = state.purpose
        status = STATUS_WORDS.get(state.status, state.status or "")
        if state.status == "given" and not state.granted:
            status = "Asked again: the text changed"
        buttons = (
            f'<button type="submit" name="grant" value="{esc(purpose.purpose)}">Allow</button> '
            f'<button type="submit" name="withdraw" value="{esc(purpose.purpose)}">'
            "Don't allow</button>"
        )
        parts.append(
            f'<section class="purpose" id="purpose-{esc(purpose.purpose)}">'
            f"<h3>{esc(purpose.title)}</h3><p>{esc(purpose.text)}</p>"
            f'<p>Status: <strong class="status">{esc(status)}</strong>'
            + (f" (until {esc(utc_text(state.expires_at))})" if state.granted else "")
            + "</p>"
            + _form(site.id, "choices", csrf, buttons, label=purpose.title)
            + f'<p class="meta">{esc(purpose.dpv_term)} · text SHA-256 '
            f"<code>{esc(purpose.text_hash[:16])}…</code></p></section>"
        )
    parts.append("<h2>What this site holds about you</h2>")
    if subject_id is None:
        parts.append("<p>Nothing: you have made no choice on this site from this browser.</p>")
    else:
        parts.append(
            f"<p>A random identifier, <code>{esc(subject_id)}</code>, that is not derived from "
            "your IP address or browser, and the record of your choices below.</p>"
        )
        if identity is not None:
            parts.append(
                f'<p>Linked identity ({esc(identity.kind)}): <strong class="identity">'
                f"{esc(identity.value)}</strong>, {esc(identity.method.replace('_', ' '))}, "
                f"for {esc(identity.purpose)} only.</p>"
            )
        else:
            parts.append("<p>No name, e-mail address or other identity is linked to you.</p>")
            identification = next(
                (s for s in states if s.purpose.purpose == "identification"), None
            )
            if identification is not None and identification.granted:
                parts.append(
                    _form(
                        site.id,
                        "email",
                        csrf,
                        '<label for="email">Your e-mail address</label> '
                        '<input id="email" name="email" type="email" required> '
                        '<button type="submit">Send me a confirmation link</button>',
                        label="Link your e-mail address",
                    )
                )
        parts.append("<h2>History</h2>")
        parts.append(
            "<table><thead><tr><th>When (UTC)</th><th>Purpose</th><th>Event</th>"
            "<th>How</th><th>Notice</th></tr></thead><tbody>"
            + "".join(
                f"<tr><td>{esc(utc_text(e.recorded_at))}</td><td>{esc(e.purpose)}</td>"
                f"<td>{esc(e.event)}</td><td>{esc(e.method)}</td>"
                f"<td>{esc(e.notice_version)}</td></tr>"
                for e in entries
            )
            + "</tbody></table>"
        )
        parts.append(f"<h2>Receipts ({len(receipts)})</h2>")
        parts.append(
            "<p>Each receipt is signed with this site's key "
            f'(<a href="/consent/sites/{esc(site.id)}/keys">public key</a>); '
            "you can check it without us.</p>"
        )
        for receipt in receipts:
            body = orjson.dumps(receipt, option=orjson.OPT_INDENT_2).decode()
            inner = receipt.get("receipt")
            receipt_id = inner.get("receipt_id") if isinstance(inner, dict) else ""
            parts.append(
                f"<details><summary>Receipt {esc(receipt_id)}</summary>"
                f"<pre>{esc(body)}</pre></details>"
            )
        parts.append("<h2>Your data</h2>")
        parts.append(
            _form(
                site.id,
                "export",
                csrf,
                '<button type="submit">Download everything (JSON)</button>',
                label="Export",
            )
        )
        parts.append(
            _form(
                site.id,
                "erase",
                csrf,
                '<label><input type="checkbox" name="confirm" value="yes" required> '
                "Erase my identity and every link to me</label> "
                '<button type="submit" class="danger">Erase</button>',
                label="Erase",
            )
        )
    return layout(f"Privacy choices, {site.domain}", "".join(parts))


@router.get("/consent/preferences.css", include_in_schema=False)
async def stylesheet() -> Response:
    return Response(
        STYLESHEET, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
    )


@router.get(
    PAGE,
    summary="The preference page (HTML, works without JavaScript)",
    response_class=HTMLResponse,
    responses=problem_responses(404),
)
async def preference_page(
    request: Request,
    site: SiteDep,
    resources: ResourcesDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    secret = resources.settings.secret()
    nonce = request.cookies.get(CSRF_COOKIE) or secrets_module.token_urlsafe(24)
    subject_id = await cookie_subject(request, resources, site.id)
    notice = await get_notice(engine=resources.engine, site_id=site.id)
    entries: list[LedgerEntry] = []
    receipts: list[dict[str, object]] = []
    identity = None
    if subject_id is not None:
        async with resources.engine.connect() as conn:
            entries = await subject_entries(conn=conn, site_id=site.id, subject_id=subject_id)
            receipts = await subject_receipts(conn=conn, site_id=site.id, subject_id=subject_id)
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
        notice_version=notice.version,
        message=MESSAGES.get(done or ""),
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


def back(site_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/consent/sites/{site_id}/preferences?done={done}", status_code=303)


@router.post(
    PAGE + "/choices",
    summary="Allow or withdraw one purpose (form post)",
    response_class=RedirectResponse,
    status_code=303,
    responses=problem_responses(400, 403, 404, 422),
)
async def choose(
    request: Request,
    site: SiteDep,
    resources: ResourcesDep,
    sec_gpc: Annotated[str | None, Header()] = None,
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
        gpc=(sec_gpc or "").strip() == "1",
    )
    response = back(site.id, "saved")
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
)
async def export_download(request: Request, site: SiteDep, resources: ResourcesDep) -> Response:
    form = await read_form(request)
    check_csrf(request, form, resources.settings.secret(), site.id)
    subject_id = await _required_subject(request, resources, site.id)
    data = await export_subject(resources=resources, site=site, subject_id=subject_id)
    return export_file(data, site.id)


def export_file(data: Mapping[str, object], site_id: str, **headers: str) -> Response:
    """A subject export as a JSON download (the page's form and the API's GET both send it)."""
    return Response(
        orjson.dumps(data, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={
            **headers,
            "Content-Disposition": f'attachment; filename="overt-export-{site_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    PAGE + "/erase",
    summary="Erase the visitor's identity and links (form post)",
    response_class=RedirectResponse,
    status_code=303,
    responses=problem_responses(400, 401, 403, 404),
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
    response = back(site.id, "erased")
    response.delete_cookie(SUBJECT_COOKIE, path=site_path(site.id))
    return response


@router.post(
    PAGE + "/email",
    summary="Mail a confirmation link for an e-mail address (form post)",
    response_class=RedirectResponse,
    status_code=303,
    responses=problem_responses(400, 401, 403, 404),
)
async def email(
    request: Request,
    site: SiteDep,
    resources: ResourcesDep,
    mail: MailDep,
    sec_gpc: Annotated[str | None, Header()] = None,
) -> Response:
    form = await read_form(request)
    check_csrf(request, form, resources.settings.secret(), site.id)
    subject_id = await _required_subject(request, resources, site.id)
    if (sec_gpc or "").strip() == "1":
        await record_decisions(
            resources=resources,
            site=site,
            subject_id=subject_id,
            choices={},
            method=Method.gpc,
            gpc=True,
        )
        return back(site.id, "saved")
    await request_email_verification(
        resources=resources,
        site=site,
        subject_id=subject_id,
        email=form.get("email", ""),
        mail=mail,
    )
    return back(site.id, "mail")


@router.post(
    PAGE + "/session",
    summary="Open the preference page with the credential the widget holds (form post)",
    response_class=RedirectResponse,
    status_code=303,
    responses=problem_responses(400, 401, 404),
)
async def session(request: Request, site: SiteDep, resources: ResourcesDep) -> Response:
    # No CSRF token here: the credential itself is the proof, and it only ever shows the
    # holder their own choices.
    form = await read_form(request)
    credential = form.get("credential", "")
    subject_id = await authenticate_subject(
        engine=resources.engine, site_id=site.id, credential=credential
    )
    if subject_id is None:
        raise InvalidSubject()
    response = back(site.id, "session")
    set_subject_cookie(response, request, site.id, credential)
    return response


VERIFY = "/consent/sites/{site_id}/identity/verify"


@router.get(
    VERIFY,
    summary="An e-mail verification link: shows what it would link, asks to confirm",
    response_class=HTMLResponse,
    responses=problem_responses(400, 404),
)
async def verify_email_page(
    site: SiteDep,
    resources: ResourcesDep,
    token: Annotated[str, Query(min_length=16, max_length=128)],
) -> Response:
    # A GET changes nothing: mail scanners open links on their own.
    address = await pending_email(resources=resources, site=site, token=token)
    page = layout(
        "Confirm your address",
        f"<h1>Confirm your address</h1><p>Link <strong>{esc(address)}</strong> to your visits "
        f"on {esc(site.domain)}, for identification only?</p>"
        f'<form method="post" action="/consent/sites/{esc(site.id)}/identity/verify">'
        f'<input type="hidden" name="token" value="{esc(token)}">'
        '<button type="submit">Confirm</button></form>'
        "<p>If you did not ask for this, close this page: nothing is linked.</p>",
    )
    return HTMLResponse(page, headers=PAGE_HEADERS)


@router.post(
    VERIFY,
    summary="Confirm an e-mail verification link (form post; the link's token is the proof)",
    response_class=HTMLResponse,
    responses=problem_responses(400, 403, 404),
)
async def verify_email(request: Request, site: SiteDep, resources: ResourcesDep) -> Response:
    form = await read_form(request)
    token = form.get("token", "")
    if not 16 <= len(token) <= 128:
        raise InvalidVerificationLink()
    identity = await confirm_email(resources=resources, site=site, token=token)
    page = layout(
        "Address confirmed",
        f"<h1>Address confirmed</h1><p>{esc(identity.value)} is now linked to your visits on "
        f"{esc(site.domain)}, for identification only. You can withdraw or erase it on "
        f'<a href="/consent/sites/{esc(site.id)}/preferences">your preference page</a>.</p>',
    )
    return HTMLResponse(page, headers=PAGE_HEADERS)
