"""The signed hand-over from the widget to the preference page, and the page's session.

The widget holds the visitor's credential in the site's localStorage; the preference page,
on Overt's origin, cannot read it. So the widget asks for a hand-over token (with the
credential), a consent token (shared/consent_tokens.py) for the purpose `preference-page`
that lives ten minutes, and puts it in its "see your history" link. The page checks it, opens
it once (a copied or leaked link is refused: `consent_handover_uses` keeps opened ids until
they would have expired), and
keeps the visitor's session in an HttpOnly cookie: a token of the purpose `preference-session`
(400 days, like the credential cookie it stands for). Neither can link events (the collector
takes only `identification` tokens), and either ends when the subject is erased.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.consent.preferences.models import consent_handover_uses
from services.consent.subjects.models import consent_subjects
from shared.consent_tokens import TOKEN_PREFIX, TokenError, issue_token, verify_token
from shared.dialect import insert_if_absent

HANDOVER = "preference-page"
SESSION = "preference-session"
HANDOVER_MS = 10 * 60 * 1000
SESSION_MS = 400 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a hand-over link does not open the visitor's choices, in the page's words."""

    reason: str  # malformed | signature | expired | site | purpose | erased | used | elsewhere


def is_session(cookie: str) -> bool:
    return cookie.startswith(TOKEN_PREFIX + ".")


def handover_token(*, secret: bytes, site_id: str, subject_id: str) -> tuple[str, datetime]:
    """A ten-minute hand-over token for the widget's link, and when it expires."""
    return _issue(secret, site_id, subject_id, HANDOVER, HANDOVER_MS)


def session_token(*, secret: bytes, site_id: str, subject_id: str) -> str:
    """The preference page's session (its cookie) for the subject a hand-over named."""
    return _issue(secret, site_id, subject_id, SESSION, SESSION_MS)[0]


def _issue(
    secret: bytes, site_id: str, subject_id: str, purpose: str, lifetime_ms: int
) -> tuple[str, datetime]:
    token, claims = issue_token(
        secret=secret,
        site_id=site_id,
        subject_id=subject_id,
        purpose=purpose,
        lifetime_ms=lifetime_ms,
    )
    return token, datetime.fromtimestamp(claims.expires_ms / 1000, UTC)


async def subject_of(
    *, engine: AsyncEngine, secret: bytes, site_id: str, token: str, purpose: str
) -> str | Refusal:
    """The subject a hand-over or session token names, while that subject exists; a
    hand-over token only the first time it is opened."""
    try:
        claims = verify_token(token, secret=secret, site_id=site_id, purpose=purpose)
    except TokenError as exc:
        return Refusal(exc.reason)
    async with engine.begin() as conn:
        held = (
            await conn.execute(
                select(consent_subjects.c.subject_id).where(
                    consent_subjects.c.site_id == site_id,
                    consent_subjects.c.subject_id == claims.subject_id,
                )
            )
        ).first()
        if held is None:
            return Refusal("erased")
        if purpose == HANDOVER:
            now = datetime.now(UTC)
            await conn.execute(
                delete(consent_handover_uses).where(consent_handover_uses.c.expires_at < now)
            )
            expires = datetime.fromtimestamp(claims.expires_ms / 1000, UTC)
            row = {"token_id": claims.token_id, "expires_at": expires}
            if not await insert_if_absent(conn, consent_handover_uses, row):
                return Refusal("used")
    return claims.subject_id
