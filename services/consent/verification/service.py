"""Tier 2: proving an identity before it is linked, asserted by the site or verified by mail.

A link needs `identification` consent for the current text; the link itself (sealed, for
that one purpose) is stored and removed by `identities`.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Row, delete, insert, select

from services.consent.crypto import as_utc, hmac_hex, seal, sha256_hex, unseal
from services.consent.identities.models import consent_email_verifications
from services.consent.identities.service import (
    Identity,
    IdentityKind,
    link_identity,
)
from services.consent.keys.service import load_site_keys
from services.consent.limits.service import Budget
from services.consent.state.exceptions import ConsentRequired
from services.consent.state.service import consent_state, state_of
from services.consent.verification.exceptions import (
    InvalidAssertion,
    InvalidEmail,
    InvalidVerificationLink,
)
from shared.consent_tokens import IDENTIFICATION
from shared.mail import MailSettings
from shared.mail import mail as send_mail
from shared.runtime import Resources
from shared.sealing import identity_context
from shared.sites import Site

log = logging.getLogger("overt.consent.identities")

ASSERTION_MAX_AGE = timedelta(minutes=5)
VERIFICATION_LIFETIME = timedelta(hours=24)


def assertion_message(
    *,
    site_id: str,
    subject_id: str,
    kind: str,
    value: str,
    issued_at: int,
    display_name: str | None = None,
) -> bytes:
    """What the site's backend signs (HMAC-SHA256 with the site's assertion secret); a display
    name, when given, is one more line after `issued_at` (which has no newline, so the two
    forms cannot be confused)."""
    message = f"overt-identity-v1\n{site_id}\n{subject_id}\n{kind}\n{value}\n{issued_at}"
    if display_name is not None:
        message += f"\n{display_name}"
    return message.encode()


def sign_assertion(
    *,
    assertion_secret: bytes,
    site_id: str,
    subject_id: str,
    kind: str,
    value: str,
    issued_at: int,
    display_name: str | None = None,
) -> str:
    """The signature a site backend sends with an identity assertion (hex)."""
    return hmac_hex(
        assertion_secret,
        assertion_message(
            site_id=site_id,
            subject_id=subject_id,
            kind=kind,
            value=value,
            issued_at=issued_at,
            display_name=display_name,
        ),
    )


def normalise_email(value: str) -> str:
    """A deliverable-looking address in one canonical form, or InvalidEmail (422).

    email-validator checks the syntax (RFC 5321/5322 and their internationalised forms):
    no NUL or control characters, no display names (`<...>`), no lists (commas), no quoted
    local parts, no IP literals. Deliverability (DNS) is not checked: the mailed link proves
    the address. The address is kept in its ASCII form (an internationalised domain as
    punycode; a non-ASCII local part is refused, since it needs SMTPUTF8 from the mail
    server, which a send would otherwise fail on), and lower-cased, so one mailbox is one
    identity.
    """
    try:
        checked = validate_email(
            value.strip(),
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    return (checked.ascii_email or checked.normalized).lower()


def normalise_identity(kind: IdentityKind, value: str) -> str:
    value = value.strip()
    if kind is IdentityKind.email:
        return normalise_email(value)
    if not 1 <= len(value) <= 200:
        raise InvalidAssertion("an external id has 1 to 200 characters")
    return value


async def _require_identification(resources: Resources, site_id: str, subject_id: str) -> None:
    """Refuse (403) unless the subject has identification consent for the current text."""
    states = await consent_state(engine=resources.engine, site_id=site_id, subject_id=subject_id)
    if not state_of(states, IDENTIFICATION).granted:
        raise ConsentRequired(IDENTIFICATION)


async def assert_identity(
    *,
    resources: Resources,
    site: Site,
    subject_id: str,
    kind: IdentityKind,
    value: str,
    issued_at: int,
    signature: str,
    display_name: str | None = None,
    now: datetime | None = None,
) -> Identity:
    """Link an identity the site's backend signed; refused without identification consent."""
    now = now or datetime.now(UTC)
    secret = resources.settings.secret()
    async with resources.engine.connect() as conn:
        keys = await load_site_keys(conn=conn, secret=secret, site_id=site.id)
    assert keys is not None
    expected = sign_assertion(
        assertion_secret=keys.assertion_secret,
        site_id=site.id,
        subject_id=subject_id,
        kind=kind.value,
        value=value,
        issued_at=issued_at,
        display_name=display_name,
    )
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise InvalidAssertion("the signature does not verify with this site's secret")
    if abs(now.timestamp() - issued_at) > ASSERTION_MAX_AGE.total_seconds():
        raise InvalidAssertion("the assertion is older than 5 minutes (or from the future)")
    normalised = normalise_identity(kind, value)
    await _require_identification(resources, site.id, subject_id)
    async with resources.engine.begin() as conn:
        await link_identity(
            conn=conn,
            secret=secret,
            site_id=site.id,
            subject_id=subject_id,
            kind=kind.value,
            value=normalised,
            method="site_assertion",
            now=now,
            display_name=display_name,
        )
    return Identity(
        kind.value, normalised, "site_assertion", IDENTIFICATION, now, display_name=display_name
    )


async def request_email_verification(
    *,
    resources: Resources,
    site: Site,
    subject_id: str,
    email: str,
    mail: MailSettings,
    budget: Budget,
    now: datetime | None = None,
    compose: Callable[[str], tuple[str, str]] | None = None,
) -> None:
    """Mail a one-time link that links `email` to the subject once opened (rate limited per
    address, per client and per site). `compose`: the mail's subject and body around the
    link (the preference page's, in its language); else English."""
    now = now or datetime.now(UTC)
    address = normalise_identity(IdentityKind.email, email)
    await _require_identification(resources, site.id, subject_id)
    await budget.spend_mail(site.id, address)
    secret = resources.settings.secret()
    token = secrets.token_urlsafe(32)
    async with resources.engine.begin() as conn:
        await conn.execute(
            insert(consent_email_verifications).values(
                token_hash=sha256_hex(token),
                site_id=site.id,
                subject_id=subject_id,
                value_sealed=seal(
                    secret, address.encode(), context=identity_context(site.id, subject_id)
                ),
                created_at=now,
                expires_at=now + VERIFICATION_LIFETIME,
            )
        )
    link = f"{resources.settings.base_url}/consent/sites/{site.id}/identity/verify?token={token}"
    if mail.host is None:
        # Development mode, and the one deliberate exception to "no tokens in logs": without
        # SMTP the verification link is written to the log so a developer can open it.
        log.warning("DEVELOPMENT MODE (no OVERT_SMTP_HOST): e-mail verification link: %s", link)
        return
    if compose is not None:
        subject, body = compose(link)
    else:
        subject = f"Confirm your address for {site.domain}"
        body = (
            f"Someone (we hope you) asked {site.domain} to connect your visits to this address. "
            f"Open this link within 24 hours to confirm:\n\n{link}\n\n"
            "If it was not you, ignore this message: nothing is linked without the click."
        )
    await send_mail(mail, address, subject, body)


async def _live_verification(
    *, resources: Resources, site: Site, token: str, now: datetime
) -> Row[Any]:
    """The unexpired verification row behind an e-mailed link, or InvalidVerificationLink."""
    async with resources.engine.connect() as conn:
        row = (
            await conn.execute(
                select(consent_email_verifications).where(
                    consent_email_verifications.c.token_hash == sha256_hex(token),
                    consent_email_verifications.c.site_id == site.id,
                )
            )
        ).first()
    if row is None or as_utc(row.expires_at) <= now:
        raise InvalidVerificationLink()
    return row


async def pending_email(
    *, resources: Resources, site: Site, token: str, now: datetime | None = None
) -> str:
    """The address a live verification link would link (nothing is changed)."""
    now = now or datetime.now(UTC)
    row = await _live_verification(resources=resources, site=site, token=token, now=now)
    context = identity_context(site.id, row.subject_id)
    return unseal(resources.settings.secret(), row.value_sealed, context=context).decode()


async def confirm_email(
    *, resources: Resources, site: Site, token: str, now: datetime | None = None
) -> Identity:
    """Confirm a verification link: link the address, once, if identification is still granted."""
    now = now or datetime.now(UTC)
    secret = resources.settings.secret()
    row = await _live_verification(resources=resources, site=site, token=token, now=now)
    await _require_identification(resources, site.id, row.subject_id)
    address = unseal(
        secret, row.value_sealed, context=identity_context(site.id, row.subject_id)
    ).decode()
    async with resources.engine.begin() as conn:
        used = await conn.execute(
            delete(consent_email_verifications).where(
                consent_email_verifications.c.token_hash == row.token_hash
            )
        )
        if not used.rowcount:
            raise InvalidVerificationLink()
        await link_identity(
            conn=conn,
            secret=secret,
            site_id=site.id,
            subject_id=row.subject_id,
            kind=IdentityKind.email.value,
            value=address,
            method="email_link",
            now=now,
        )
    return Identity(IdentityKind.email.value, address, "email_link", IDENTIFICATION, now)
