"""Pseudonymous subjects: a random id and a credential the visitor holds (only its hash is kept)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.consent.crypto import same, sha256_hex
from services.consent.subjects.models import consent_subjects

CREDENTIAL_PREFIX = "ocs1"


@dataclass(frozen=True, slots=True)
class SubjectCredential:
    subject_id: str
    credential: str  # shown to the visitor once; only its hash is kept


async def create_subject(*, engine: AsyncEngine, site_id: str) -> SubjectCredential:
    """A new pseudonymous subject: random id (never derived from IP or browser) and secret."""
    subject_id = secrets.token_hex(16)
    secret = secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        await conn.execute(
            insert(consent_subjects).values(
                site_id=site_id,
                subject_id=subject_id,
                secret_hash=sha256_hex(secret),
                created_at=datetime.now(UTC),
            )
        )
    return SubjectCredential(subject_id, f"{CREDENTIAL_PREFIX}.{subject_id}.{secret}")


async def authenticate_subject(*, engine: AsyncEngine, site_id: str, credential: str) -> str | None:
    """The subject id behind a credential for this site, or None (compared in constant time)."""
    parts = credential.split(".") if len(credential) < 256 else []
    if len(parts) != 3 or parts[0] != CREDENTIAL_PREFIX:
        return None
    subject_id, secret = parts[1], parts[2]
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                select(consent_subjects.c.secret_hash).where(
                    consent_subjects.c.site_id == site_id,
                    consent_subjects.c.subject_id == subject_id,
                )
            )
        ).scalar_one_or_none()
    if stored is None or not same(stored, sha256_hex(secret)):
        return None
    return subject_id
