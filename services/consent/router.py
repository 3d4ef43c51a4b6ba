"""HTTP surface of the consent service: the JSON consent API under /consent/sites/{id}/."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Header, Request, Response
from fastapi import Path as PathParam
from pydantic import ValidationError

from services.consent.crypto import utc_text
from services.consent.dependencies import MailDep, SiteDep, SubjectDep
from services.consent.exceptions import (
    BadBody,
    ConsentProblem,
    ConsentRequired,
    GpcOptOut,
    InvalidConsentToken,
    InvalidSubject,
)
from services.consent.identities import (
    IdentityKind,
    assert_identity,
    request_email_verification,
)
from services.consent.keys import load_site_keys
from services.consent.ledger import Method, subject_entries
from services.consent.preferences import export_file
from services.consent.preferences import router as preferences_router
from services.consent.receipts import subject_receipts
from services.consent.rights import Regime, erase_subject, export_subject, list_requests
from services.consent.schemas import (
    AssertionIn,
    DecisionIn,
    DecisionOut,
    EmailIn,
    HistoryOut,
    IdentityOut,
    KeysOut,
    NoticeOut,
    PurposeOut,
    PurposesOut,
    PurposeStateOut,
    RequestOut,
    StateOut,
    TokenCheckIn,
    TokenCheckOut,
    TokenOut,
    decision_in_adapter,
)
from services.consent.service import (
    PurposeState,
    authenticate_subject,
    consent_state,
    create_subject,
    get_notice,
    identification_token,
    record_decisions,
)
from shared.consent_tokens import TokenError, is_linkable, verify_token
from shared.errors import field_errors, problem_responses
from shared.runtime import ResourcesDep

router = APIRouter(tags=["consent"])
router.include_router(preferences_router)

SITE = "/consent/sites/{site_id}"
STATIC = Path(__file__).parent / "static"
WIDGET_JS = (STATIC / "widget.js").read_bytes()
WIDGET_CSS = (STATIC / "widget.css").read_bytes()
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=3600",
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "X-Content-Type-Options": "nosniff",
}
MAX_BODY = 16 * 1024
# The API authenticates with a credential in a header or the body, never a cookie, so any
# origin may call it: there is no ambient authority for another site to borrow.
CORS = {"Access-Control-Allow-Origin": "*"}


@router.get("/.well-known/gpc.json", summary="Global Privacy Control support statement")
async def gpc_support() -> dict[str, object]:
    # https://privacycg.github.io/gpc-spec/#gpc-support-resource
    return {"gpc": True, "lastUpdate": "2026-11-24"}


@router.get("/consent/widget.js", summary="The consent widget", response_class=Response)
async def widget_js() -> Response:
    return Response(WIDGET_JS, media_type="text/javascript", headers=ASSET_HEADERS)


@router.get("/consent/widget.css", summary="The consent widget's styles", response_class=Response)
async def widget_css() -> Response:
    return Response(WIDGET_CSS, media_type="text/css", headers=ASSET_HEADERS)


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
for _path in ("decisions", "state", "history", "tokens", "identity/email", "export", "erase"):
    router.add_api_route(f"{SITE}/{_path}", preflight, methods=["OPTIONS"], include_in_schema=False)


def gpc_requested(sec_gpc: str | None) -> bool:
    return (sec_gpc or "").strip() == "1"


def state_out(subject_id: str, notice_version: int, states: Sequence[PurposeState]) -> StateOut:
    signals: dict[str, Literal["granted", "denied"]] = {}
    for state in states:
        for signal in state.purpose.consent_mode:
            signals[signal] = "granted" if state.granted else "denied"
    return StateOut(
        subject_id=subject_id,
        notice_version=notice_version,
        purposes=[PurposeStateOut(**state.public()) for state in states],
        consent_mode=signals,
    )


@router.get(
    SITE + "/purposes",
    summary="What the site asks consent for, in the current notice",
    responses=problem_responses(404),
)
async def purposes(site: SiteDep, resources: ResourcesDep, response: Response) -> PurposesOut:
    response.headers.update(CORS)
    notice = await get_notice(engine=resources.engine, site_id=site.id)
    return PurposesOut(
        site_id=site.id,
        notice_version=notice.version,
        purposes=[PurposeOut(**p.public()) for p in notice.purposes],
    )


@router.get(
    SITE + "/notices/{version}",
    summary="One version of the site's notice, as it was shown",
    responses=problem_responses(404),
)
async def notice(
    site: SiteDep,
    version: Annotated[int, PathParam(ge=1, le=2**31 - 1)],  # the column is a 32-bit integer
    resources: ResourcesDep,
    response: Response,
) -> NoticeOut:
    response.headers.update(CORS)
    shown = await get_notice(engine=resources.engine, site_id=site.id, version=version)
    return NoticeOut(
        site_id=site.id,
        notice_version=shown.version,
        purposes=[PurposeOut(**p.public()) for p in shown.purposes],
    )


@router.get(
    SITE + "/keys",
    summary="The site's public key (JWK) to verify receipts and checkpoints offline",
    responses=problem_responses(404),
)
async def keys(site: SiteDep, resources: ResourcesDep, response: Response) -> KeysOut:
    response.headers.update(CORS)
    async with resources.engine.connect() as conn:
        site_keys = await load_site_keys(
            conn=conn, secret=resources.settings.secret(), site_id=site.id
        )
    assert site_keys is not None
    return KeysOut(keys=[site_keys.jwk()])


async def read_json(request: Request) -> object:
    """A JSON body sent as application/json or text/plain (the widget avoids a preflight)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in ("application/json", "text/plain", ""):
        raise ConsentProblem(
            415,
            "Unsupported media type",
            slug="unsupported-media-type",
            detail="Send JSON as application/json or text/plain.",
        )
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ConsentProblem(413, "Body too large", slug="payload-too-large")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadBody("The body is not JSON.") from None


@router.post(
    SITE + "/decisions",
    summary="Give, refuse or withdraw consent, purpose by purpose",
    responses=problem_responses(400, 401, 404, 413, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": DecisionIn.model_json_schema()},
                "text/plain": {"schema": DecisionIn.model_json_schema()},
            },
        }
    },
)
async def decide(
    request: Request,
    site: SiteDep,
    resources: ResourcesDep,
    response: Response,
    sec_gpc: Annotated[str | None, Header()] = None,
) -> DecisionOut:
    response.headers.update(CORS)
    try:
        body = decision_in_adapter.validate_python(await read_json(request))
    except ValidationError as exc:
        raise ConsentProblem(
            422,
            "Request validation failed",
            slug="validation-error",
            errors=field_errors(list(exc.errors())),
        ) from None
    authorization = request.headers.get("authorization", "")
    credential = body.credential or (
        authorization[7:] if authorization.lower().startswith("bearer ") else None
    )
    new_credential = None
    if credential:
        subject_id = await authenticate_subject(
            engine=resources.engine, site_id=site.id, credential=credential
        )
        if subject_id is None:
            raise InvalidSubject()
    else:
        made = await create_subject(engine=resources.engine, site_id=site.id)
        subject_id, new_credential = made.subject_id, made.credential
    decision = await record_decisions(
        resources=resources,
        site=site,
        subject_id=subject_id,
        choices=body.choices,
        method=Method(body.method),
        jurisdiction=body.jurisdiction,
        gpc=gpc_requested(sec_gpc),
    )
    notice_version = await current_version(resources, site.id)
    state = state_out(subject_id, notice_version, decision.states)
    if new_credential:
        response.status_code = 201
    return DecisionOut(
        **state.model_dump(),
        credential=new_credential,
        receipt=decision.receipt,
        token=decision.token,
    )


async def current_version(resources: ResourcesDep, site_id: str) -> int:
    return (await get_notice(engine=resources.engine, site_id=site_id)).version


@router.get(
    SITE + "/state",
    summary="The subject's current choices",
    responses=problem_responses(401, 404),
)
async def state(subject: SubjectDep, resources: ResourcesDep, response: Response) -> StateOut:
    response.headers.update(CORS)
    states = await consent_state(
        engine=resources.engine, site_id=subject.site.id, subject_id=subject.subject_id
    )
    return state_out(subject.subject_id, await current_version(resources, subject.site.id), states)


@router.get(
    SITE + "/history",
    summary="Every ledger row and receipt about the subject",
    responses=problem_responses(401, 404),
)
async def history(subject: SubjectDep, resources: ResourcesDep, response: Response) -> HistoryOut:
    response.headers.update(CORS)
    async with resources.engine.connect() as conn:
        entries = await subject_entries(
            conn=conn, site_id=subject.site.id, subject_id=subject.subject_id
        )
        receipts = await subject_receipts(
            conn=conn, site_id=subject.site.id, subject_id=subject.subject_id
        )
    return HistoryOut(
        subject_id=subject.subject_id,
        entries=[entry.public() for entry in entries],
        receipts=receipts,
    )


@router.post(
    SITE + "/tokens",
    summary="A fresh identification consent token (while that consent is granted)",
    responses=problem_responses(401, 403, 404),
)
async def token(subject: SubjectDep, resources: ResourcesDep, response: Response) -> TokenOut:
    response.headers.update(CORS)
    issued = await identification_token(
        resources=resources, site_id=subject.site.id, subject_id=subject.subject_id
    )
    if issued is None:
        raise ConsentRequired("identification")
    claims = verify_token(issued, secret=resources.settings.secret(), site_id=subject.site.id)
    expires = datetime.fromtimestamp(claims.expires_ms / 1000, UTC)
    return TokenOut(token=issued, expires_at=utc_text(expires) or "")


@router.post(
    SITE + "/tokens/check",
    summary="Whether a consent token may link events to its subject now",
    responses=problem_responses(401, 404, 422),
)
async def check_token(site: SiteDep, body: TokenCheckIn, resources: ResourcesDep) -> TokenCheckOut:
    secret = resources.settings.secret()
    try:
        claims = verify_token(body.token, secret=secret, site_id=site.id)
    except TokenError as exc:
        raise InvalidConsentToken(exc.reason, str(exc)) from None
    linkable = await is_linkable(
        body.token, site_id=site.id, secret=secret, revocations=resources.revocations
    )
    if linkable is None:
        raise InvalidConsentToken("revoked", "consent was withdrawn since the token was issued")
    return TokenCheckOut(
        linkable=True,
        subject_id=claims.subject_id,
        expires_at=utc_text(datetime.fromtimestamp(claims.expires_ms / 1000, UTC)) or "",
    )


async def refuse_for_gpc(resources: ResourcesDep, site: SiteDep, subject_id: str) -> None:
    """Record the GPC opt-out in the ledger, then refuse the identification request."""
    await record_decisions(
        resources=resources,
        site=site,
        subject_id=subject_id,
        choices={},
        method=Method.gpc,
        gpc=True,
    )
    raise GpcOptOut()


@router.post(
    SITE + "/identity/assert",
    summary="Link an identity the site's backend signed (HMAC-SHA256, site secret)",
    responses=problem_responses(403, 404, 422),
)
async def identity_assert(
    site: SiteDep,
    body: AssertionIn,
    resources: ResourcesDep,
    sec_gpc: Annotated[str | None, Header()] = None,
) -> IdentityOut:
    if gpc_requested(sec_gpc) and await subject_known(resources, site.id, body.subject_id):
        await refuse_for_gpc(resources, site, body.subject_id)
    identity = await assert_identity(
        resources=resources,
        site=site,
        subject_id=body.subject_id,
        kind=IdentityKind(body.kind),
        value=body.value,
        issued_at=body.issued_at,
        signature=body.signature,
    )
    return IdentityOut(**{k: v for k, v in identity.public().items() if k != "value"})


async def subject_known(resources: ResourcesDep, site_id: str, subject_id: str) -> bool:
    """Whether the subject exists (GPC rows are only written for real subjects)."""
    states = await consent_state(engine=resources.engine, site_id=site_id, subject_id=subject_id)
    return any(state.status is not None for state in states)


@router.post(
    SITE + "/identity/email",
    summary="Mail the visitor a link that links this address once opened",
    status_code=202,
    responses=problem_responses(401, 403, 404, 422),
)
async def identity_email(
    subject: SubjectDep,
    body: EmailIn,
    resources: ResourcesDep,
    mail: MailDep,
    response: Response,
    sec_gpc: Annotated[str | None, Header()] = None,
) -> dict[str, str]:
    response.headers.update(CORS)
    if gpc_requested(sec_gpc):
        await refuse_for_gpc(resources, subject.site, subject.subject_id)
    await request_email_verification(
        resources=resources,
        site=subject.site,
        subject_id=subject.subject_id,
        email=body.email,
        mail=mail,
    )
    return {"status": "sent", "detail": "Open the link in the message to confirm."}


@router.get(
    SITE + "/export",
    summary="Everything held about the subject (a data-subject access request)",
    responses=problem_responses(401, 404),
)
async def export(
    subject: SubjectDep, resources: ResourcesDep, regime: Regime = Regime.gdpr
) -> Response:
    data = await export_subject(
        resources=resources, site=subject.site, subject_id=subject.subject_id, regime=regime
    )
    return export_file(data, subject.site.id, **CORS)


@router.post(
    SITE + "/erase",
    summary="Erase the subject: identity and links destroyed, a PII-free ledger row kept",
    responses=problem_responses(401, 404),
)
async def erase(
    subject: SubjectDep, resources: ResourcesDep, response: Response, regime: Regime = Regime.gdpr
) -> RequestOut:
    response.headers.update(CORS)
    request_id = await erase_subject(
        resources=resources,
        site=subject.site,
        subject_id=subject.subject_id,
        method=Method.api,
        regime=regime,
    )
    done = await list_requests(
        engine=resources.engine, site_id=subject.site.id, subject_id=subject.subject_id
    )
    row = next(r for r in done if r["request_id"] == request_id)
    return RequestOut(**{k: row[k] for k in RequestOut.model_fields})
