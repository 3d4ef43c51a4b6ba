"""Routes of identification consent tokens: a fresh one, and whether one may link now."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response

from services.consent.crypto import utc_text
from services.consent.dependencies import SiteDep, SubjectDep
from services.consent.http import CORS, SITE
from services.consent.state.exceptions import ConsentRequired
from services.consent.tokens.exceptions import InvalidConsentToken
from services.consent.tokens.schemas import TokenCheckIn, TokenCheckOut, TokenOut
from services.consent.tokens.service import identification_token
from shared.consent_tokens import TokenError, is_linkable, verify_token
from shared.errors import problem_responses
from shared.runtime import ResourcesDep

router = APIRouter()


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
