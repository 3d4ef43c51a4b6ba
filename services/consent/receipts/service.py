"""Signed consent receipts (fields after ISO/IEC TS 27560), verifiable offline."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.consent.crypto import b64url, canonical_json, unb64url, utc_text, verify_signature
from services.consent.keys.service import SiteKeys
from services.consent.ledger.service import LedgerEntry
from services.consent.receipts.models import consent_receipts

RECEIPT_SCHEMA = "https://overt.dev/schemas/consent-receipt/1"
SIGNATURE_ALG = "EdDSA"


def build_receipt(
    *,
    keys: SiteKeys,
    domain: str,
    subject_id: str,
    entries: Sequence[LedgerEntry],
    purposes: dict[str, dict[str, Any]],
    notice_url: str,
    issued_at: datetime,
) -> dict[str, Any]:
    """The receipt body for the ledger rows of one decision (fields after ISO/IEC TS 27560)."""
    first = entries[0]
    return {
        "schema": RECEIPT_SCHEMA,
        "receipt_id": secrets.token_hex(16),
        "issued_at": utc_text(issued_at),
        "jurisdiction": first.jurisdiction,
        "controller": {"site_id": keys.site_id, "domain": domain},
        "processor": {"name": "Overt", "role": "processor"},
        "data_subject": {"id": subject_id, "id_type": "pseudonymous-random"},
        "collection_method": first.method,
        "notice": {"version": first.notice_version, "url": notice_url},
        "consents": [
            {
                "purpose": entry.purpose,
                "dpv_purpose": purposes.get(entry.purpose, {}).get("dpv_term"),
                "consent_mode": purposes.get(entry.purpose, {}).get("consent_mode", []),
                "status": entry.event,
                "notice_sha256": entry.notice_hash,
                "recorded_at": utc_text(entry.recorded_at),
                "expires_at": utc_text(entry.expires_at),
                "ledger": {"seq": entry.seq, "entry_id": entry.entry_id, "hash": entry.row_hash},
            }
            for entry in entries
        ],
        "key_id": keys.key_id,
    }


def sign_receipt(*, keys: SiteKeys, body: dict[str, Any]) -> dict[str, Any]:
    """The envelope given to the visitor: body, algorithm, key id, Ed25519 signature."""
    return {
        "receipt": body,
        "alg": SIGNATURE_ALG,
        "key_id": keys.key_id,
        "signature": b64url(keys.sign(canonical_json(body))),
    }


def verify_receipt(envelope: dict[str, Any], public_key: bytes) -> bool:
    """Offline check: the signature covers the canonical JSON of the receipt body."""
    try:
        signature = unb64url(str(envelope["signature"]))
        body = envelope["receipt"]
    except (KeyError, ValueError, TypeError):
        return False
    return verify_signature(public_key, signature, canonical_json(body))


async def store_receipt(
    *, conn: AsyncConnection, site_id: str, subject_id: str, envelope: dict[str, Any]
) -> None:
    """Keep a copy of a signed receipt for the preference page and exports."""
    body = envelope["receipt"]
    await conn.execute(
        insert(consent_receipts).values(
            receipt_id=body["receipt_id"],
            site_id=site_id,
            subject_id=subject_id,
            issued_at=datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00")),
            body=canonical_json(body).decode(),
            signature=envelope["signature"],
        )
    )


async def subject_receipts(
    *, conn: AsyncConnection, site_id: str, subject_id: str
) -> list[dict[str, Any]]:
    """The receipt envelopes given to one subject, oldest first."""
    rows = await conn.execute(
        select(consent_receipts)
        .where(consent_receipts.c.site_id == site_id, consent_receipts.c.subject_id == subject_id)
        .order_by(consent_receipts.c.issued_at, consent_receipts.c.receipt_id)
    )
    envelopes = []
    for row in rows:
        body = orjson.loads(row.body)
        envelopes.append(
            {
                "receipt": body,
                "alg": SIGNATURE_ALG,
                "key_id": body.get("key_id"),
                "signature": row.signature,
            }
        )
    return envelopes
