"""Identification consent tokens: issued while that consent is granted, revoked when it ends."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import func, select

from services.consent.crypto import as_utc
from services.consent.ledger.models import consent_ledger
from services.consent.state.service import PurposeState, consent_state, state_of
from services.consent.tokens.exceptions import RevocationUnavailable
from shared.consent_state import ALL_PURPOSES, LedgerEvent
from shared.consent_tokens import (
    IDENTIFICATION,
    TOKEN_LIFETIME_MS,
    Revocation,
    issue_token,
    now_ms,
)
from shared.runtime import Resources

log = logging.getLogger("overt.consent")


def token_for(
    *, secret: bytes, site_id: str, subject_id: str, states: Sequence[PurposeState], now: datetime
) -> str | None:
    """An `identification` token valid until that consent expires, or None unless granted."""
    identification = state_of(states, IDENTIFICATION)
    if not identification.granted:
        return None
    token, _ = issue_token(
        secret=secret,
        site_id=site_id,
        subject_id=subject_id,
        now=now,
        not_after=identification.expires_at,
    )
    return token


async def identification_token(
    *, resources: Resources, site_id: str, subject_id: str, now: datetime | None = None
) -> str | None:
    """A fresh `identification` token while that consent is granted, else None."""
    now = now or datetime.now(UTC)
    states = await consent_state(
        engine=resources.engine, site_id=site_id, subject_id=subject_id, now=now
    )
    return token_for(
        secret=resources.settings.secret(),
        site_id=site_id,
        subject_id=subject_id,
        states=states,
        now=now,
    )


async def revoke_tokens(resources: Resources, revocation: Revocation) -> None:
    """Publish a revocation to every process; 503 when Redis cannot take it."""
    try:
        await resources.revocations.revoke(revocation)
    except (RedisError, OSError):
        raise RevocationUnavailable() from None


async def restore_revocations(resources: Resources) -> None:
    """Startup hook: re-apply the revocations of every token that could still be alive.

    The in-process notifier forgets on restart, and Redis may have lost its keys; the
    ledger has not. Every withdrawal, opt-out, expiry or erasure of `identification`
    younger than a token's lifetime is revoked again.
    """
    since = datetime.now(UTC) - timedelta(milliseconds=TOKEN_LIFETIME_MS + 60_000)
    async with resources.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    consent_ledger.c.site_id,
                    consent_ledger.c.subject_id,
                    func.max(consent_ledger.c.recorded_at).label("at"),
                )
                .where(
                    consent_ledger.c.recorded_at >= since,
                    consent_ledger.c.purpose.in_([IDENTIFICATION, ALL_PURPOSES]),
                    consent_ledger.c.event != LedgerEvent.given.value,
                )
                .group_by(consent_ledger.c.site_id, consent_ledger.c.subject_id)
            )
        ).all()
    for row in rows:
        await resources.revocations.revoke(
            Revocation(row.site_id, row.subject_id, now_ms(as_utc(row.at)), "restored")
        )
    if rows:
        log.info("re-applied %d consent revocations from the ledger", len(rows))


def revocation(site_id: str, subject_id: str, now: datetime, event: LedgerEvent) -> Revocation:
    """The revocation of every token of the subject issued before `now`, saying why."""
    return Revocation(site_id, subject_id, now_ms(now), event.value)
