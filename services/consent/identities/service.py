"""Tier 2 identities: the sealed link from a subject to a name or address, read and removed.

Identities are sealed (AES-256-GCM, key derived from the server secret, the site and subject
authenticated with it) and linked for one purpose, `identification`; withdrawing it or
erasing the subject removes the link. How a link is proved lives in `verification`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.consent.crypto import as_utc, seal, unseal, utc_text
from services.consent.identities.models import consent_email_verifications, consent_identities
from shared.consent_tokens import IDENTIFICATION
from shared.models import events
from shared.runtime import Resources
from shared.sealing import identity_context


class IdentityKind(StrEnum):
    email = "email"
    external_id = "external_id"


@dataclass(frozen=True, slots=True)
class Identity:
    kind: str
    value: str
    method: str
    purpose: str
    verified_at: datetime
    display_name: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "value": self.value,
            "display_name": self.display_name,
            "method": self.method,
            "purpose": self.purpose,
            "verified_at": utc_text(self.verified_at),
        }


async def link_identity(
    *,
    conn: AsyncConnection,
    secret: bytes,
    site_id: str,
    subject_id: str,
    kind: str,
    value: str,
    method: str,
    now: datetime,
    display_name: str | None = None,
) -> None:
    """Replace the subject's identity (and display name, if any) with a sealed new one."""
    context = identity_context(site_id, subject_id)
    await conn.execute(
        delete(consent_identities).where(
            consent_identities.c.site_id == site_id, consent_identities.c.subject_id == subject_id
        )
    )
    await conn.execute(
        insert(consent_identities).values(
            site_id=site_id,
            subject_id=subject_id,
            purpose=IDENTIFICATION,
            kind=kind,
            value_sealed=seal(secret, value.encode(), context=context),
            display_name_sealed=None
            if display_name is None
            else seal(secret, display_name.encode(), context=context),
            method=method,
            verified_at=now,
        )
    )


async def unlink_identity(*, conn: AsyncConnection, site_id: str, subject_id: str) -> int:
    """Remove the subject's identity and pending verifications; returns how many rows went."""
    removed = await conn.execute(
        delete(consent_identities).where(
            consent_identities.c.site_id == site_id, consent_identities.c.subject_id == subject_id
        )
    )
    pending = await conn.execute(
        delete(consent_email_verifications).where(
            consent_email_verifications.c.site_id == site_id,
            consent_email_verifications.c.subject_id == subject_id,
        )
    )
    # Every link from events to this subject goes too (promise 4); the events stay anonymous.
    unlinked = await conn.execute(
        update(events)
        .where(events.c.site_id == site_id, events.c.subject_id == subject_id)
        .values(subject_id=None)
    )
    return int(removed.rowcount or 0) + int(pending.rowcount or 0) + int(unlinked.rowcount or 0)


async def get_identity(*, resources: Resources, site_id: str, subject_id: str) -> Identity | None:
    """The subject's linked identity, unsealed, or None."""
    async with resources.engine.connect() as conn:
        row = (
            await conn.execute(
                select(consent_identities).where(
                    consent_identities.c.site_id == site_id,
                    consent_identities.c.subject_id == subject_id,
                )
            )
        ).first()
    if row is None:
        return None
    secret, context = resources.settings.secret(), identity_context(site_id, subject_id)
    value = unseal(secret, row.value_sealed, context=context).decode()
    name = row.display_name_sealed
    return Identity(
        row.kind,
        value,
        row.method,
        row.purpose,
        as_utc(row.verified_at),
        display_name=None if name is None else unseal(secret, name, context=context).decode(),
    )
