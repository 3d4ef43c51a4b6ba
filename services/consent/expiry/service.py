"""Consent expiry: an `expired` row for every consent past its expiry, site by site."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select

from services.consent.crypto import as_utc
from services.consent.exceptions import SiteNotFound
from services.consent.keys.service import site_keys
from services.consent.ledger.models import consent_ledger
from services.consent.ledger.service import (
    LedgerEntry,
    Method,
    NewEntry,
    Source,
    append_entries,
    ledger_sites,
    lock_chain,
    subject_entries,
)
from services.consent.tokens.service import revocation, revoke_tokens
from shared.consent_state import ALL_PURPOSES, LedgerEvent
from shared.consent_tokens import IDENTIFICATION
from shared.runtime import Resources

log = logging.getLogger("overt.consent")


async def expire_consents(
    *, resources: Resources, site_id: str, now: datetime | None = None
) -> int:
    """Record an `expired` row for every consent past its expiry; returns how many."""
    now = now or datetime.now(UTC)
    secret = resources.settings.secret()
    async with resources.engine.begin() as conn:
        await lock_chain(conn=conn, site_id=site_id)
        keys = await site_keys(conn=conn, secret=secret, site_id=site_id)
        subjects = (
            await conn.execute(
                select(consent_ledger.c.subject_id)
                .where(
                    consent_ledger.c.site_id == site_id,
                    consent_ledger.c.event == LedgerEvent.given.value,
                    consent_ledger.c.expires_at <= now,
                )
                .distinct()
            )
        ).scalars()
        new: list[NewEntry] = []
        for subject_id in list(subjects):
            entries = await subject_entries(conn=conn, site_id=site_id, subject_id=subject_id)
            latest: dict[str, LedgerEntry] = {}
            for entry in entries:
                if entry.purpose == ALL_PURPOSES:
                    latest.clear()  # erased: nothing left to expire
                else:
                    latest[entry.purpose] = entry
            for purpose, entry in latest.items():
                if (
                    entry.event == LedgerEvent.given
                    and entry.expires_at is not None
                    and as_utc(entry.expires_at) <= now
                ):
                    new.append(
                        NewEntry(
                            subject_id=subject_id,
                            event=LedgerEvent.expired,
                            purpose=purpose,
                            method=Method.system,
                            notice_version=entry.notice_version,
                            notice_hash=entry.notice_hash,
                            jurisdiction=entry.jurisdiction,
                            source=Source(entry.source) if entry.source else None,
                        )
                    )
        await append_entries(conn=conn, keys=keys, entries=new, now=now)
        for subject_id in {e.subject_id for e in new if e.purpose == IDENTIFICATION}:
            await revoke_tokens(
                resources, revocation(site_id, subject_id, now, LedgerEvent.expired)
            )
    return len(new)


async def expire_all(*, resources: Resources, now: datetime | None = None) -> int:
    """One expiry pass over every site; returns how many consents expired.

    A site that never set up consent (no keys) has nothing to expire and is skipped. A
    site whose pass fails is logged and retried at the next pass; the others still run.
    (The pass used to stop at the first site without keys, so no site after it in id
    order ever had its consents expired.)
    """
    expired = 0
    for site_id in await ledger_sites(engine=resources.engine):
        try:
            expired += await expire_consents(resources=resources, site_id=site_id, now=now)
        except SiteNotFound:
            continue
        except Exception:
            log.exception(
                "consent expiry failed for a site; retrying at the next interval",
                extra={"site_id": site_id},
            )
    return expired
