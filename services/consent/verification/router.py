"""Routes of identity verification: a site's signed assertion, a visitor's e-mailed link."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from fastapi import APIRouter, Request, Response

from services.consent.decisions.service import record_decisions
from services.consent.dependencies import BudgetDep, GpcDep, MailDep, SiteDep, SubjectDep
from services.consent.http import CORS, SITE
from services.consent.identities.service import IdentityKind
from services.consent.ledger.service import Method
from services.consent.state.service import consent_state
from services.consent.verification.exceptions import GpcOptOut
from services.consent.verification.schemas import AssertionIn, EmailIn, IdentityOut
from services.consent.verification.service import assert_identity, request_email_verification
from shared.errors import problem_responses
from shared.runtime import ResourcesDep
from shared.sites import Site

router = APIRouter()


async def refuse_for_gpc(resources: ResourcesDep, site: Site, subject_id: str) -> None:
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


async def subject_known(resources: ResourcesDep, site_id: str, subject_id: str) -> bool:
    """Whether the subject exists (GPC rows are only written for real subjects)."""
    states = await consent_state(engine=resources.engine, site_id=site_id, subject_id=subject_id)
    return any(state.status is not None for state in states)


@router.post(
    SITE + "/identity/assert",
    summary="Link an identity the site's backend signed (HMAC-SHA256, site secret)",
    responses=problem_responses(403, 404, 422),
)
async def identity_assert(
    site: SiteDep,
    body: AssertionIn,
    resources: ResourcesDep,
    gpc: GpcDep,
) -> IdentityOut:
    if gpc and await subject_known(resources, site.id, body.subject_id):
        await refuse_for_gpc(resources, site, body.subject_id)
    identity = await assert_identity(
        resources=resources,
        site=site,
        subject_id=body.subject_id,
        kind=IdentityKind(body.kind),
        value=body.value,
        issued_at=body.issued_at,
        signature=body.signature,
        display_name=body.display_name,
    )
    return IdentityOut(
        **{k: v for k, v in identity.public().items() if k not in {"value", "display_name"}}
    )


# The mail's words: the preference page's catalogues and the site's own wording, which sit
# above this layer, so services/consent/router.py (which composes the domains) hands them
# over. It takes the site, the request's Accept-Language and the link.
MailWords = Callable[[Site, str | None, str], tuple[str, str]]
_mail_words: list[MailWords] = []


def register_mail_words(words: MailWords) -> None:
    _mail_words[:] = [words]


@router.post(
    SITE + "/identity/email",
    summary="Mail the visitor a link that links this address once opened",
    status_code=202,
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def identity_email(
    request: Request,
    subject: SubjectDep,
    body: EmailIn,
    resources: ResourcesDep,
    mail: MailDep,
    budget: BudgetDep,
    response: Response,
    gpc: GpcDep,
) -> dict[str, str]:
    response.headers.update(CORS)
    if gpc:
        await refuse_for_gpc(resources, subject.site, subject.subject_id)
    await request_email_verification(
        resources=resources,
        site=subject.site,
        subject_id=subject.subject_id,
        email=body.email,
        mail=mail,
        budget=budget,
        compose=(
            partial(_mail_words[0], subject.site, request.headers.get("accept-language"))
            if _mail_words
            else None
        ),
    )
    return {"status": "sent", "detail": "Open the link in the message to confirm."}
