"""Signed consent receipts (fields after ISO/IEC TS 27560), verifiable offline.

Version 2 (schema `.../consent-receipt/2`) is signed as a JWS (RFC 7515, alg EdDSA, RFC 8037):
the envelope's `jws` is the compact serialisation of the canonical JSON body under the
protected header `{"alg":"EdDSA","kid":KEY_ID}`, so any JOSE library verifies it with the
site's JWKS (`/consent/sites/{site_id}/.well-known/jwks.json`); `signature` is the JWS's
signature part. Version 1 receipts (issued before) signed the canonical JSON body itself;
they stay verifiable: the body's `schema` says which message a signature covers.

Each consent in a receipt names the ledger row its decision wrote (`ledger`: seq, entry id,
row hash), under the site's signature: a receipt kept outside proves the ledger reached at
least that row, which is how `overt ledger verify --receipts FILE` catches a cut-off tail.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.consent.crypto import b64url, canonical_json, unb64url, utc_text, verify_signature
from services.consent.keys.service import SiteKeys
from services.consent.ledger.service import Evidence, LedgerEntry, checkpoint_message
from services.consent.receipts.models import consent_receipts

RECEIPT_SCHEMA = "https://overt.dev/schemas/consent-receipt/2"  # signed as a JWS
RECEIPT_SCHEMA_V1 = "https://overt.dev/schemas/consent-receipt/1"  # signed canonical JSON
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
    source = next((entry.source for entry in entries if entry.source), None)
    notice: dict[str, Any] = {"version": first.notice_version, "url": notice_url}
    if source is not None:  # another consent manager showed the text; its hash is per consent
        notice = {"version": None, "url": None, "source": source}
    return {
        "schema": RECEIPT_SCHEMA,
        "receipt_id": secrets.token_hex(16),
        "issued_at": utc_text(issued_at),
        "jurisdiction": first.jurisdiction,
        "controller": {"site_id": keys.site_id, "domain": domain},
        "processor": {"name": "Overt", "role": "processor"},
        "data_subject": {"id": subject_id, "id_type": "pseudonymous-random"},
        "collection_method": first.method,
        "notice": notice,
        "consents": [
            {
                "purpose": entry.purpose,
                "dpv_purpose": purposes.get(entry.purpose, {}).get("dpv_term"),
                "consent_mode": purposes.get(entry.purpose, {}).get("consent_mode", []),
                "status": entry.event,
                "notice_sha256": entry.notice_hash,
                **({"source": entry.source} if entry.source else {}),
                "recorded_at": utc_text(entry.recorded_at),
                "expires_at": utc_text(entry.expires_at),
                "ledger": {"seq": entry.seq, "entry_id": entry.entry_id, "hash": entry.row_hash},
            }
            for entry in entries
        ],
        "key_id": keys.key_id,
    }


def jws_signing_input(body: Mapping[str, Any]) -> str:
    """`BASE64URL(protected header) . BASE64URL(payload)` of a version 2 receipt (RFC 7515
    section 5.1): the payload is the body's canonical JSON, the header names its key."""
    header = canonical_json({"alg": SIGNATURE_ALG, "kid": body.get("key_id")})
    return f"{b64url(header)}.{b64url(canonical_json(body))}"


def signed_message(body: Mapping[str, Any]) -> bytes:
    """What a receipt's signature covers: the JWS signing input (version 2) or the
    canonical JSON of the body (version 1)."""
    if body.get("schema") == RECEIPT_SCHEMA_V1:
        return canonical_json(body)
    return jws_signing_input(body).encode()


def receipt_envelope(body: dict[str, Any], signature: str) -> dict[str, Any]:
    """The envelope given to the visitor (and kept): the body, its key and signature, and
    for version 2 the same as a compact JWS."""
    envelope: dict[str, Any] = {
        "receipt": body,
        "alg": SIGNATURE_ALG,
        "key_id": body.get("key_id"),
        "signature": signature,
    }
    if body.get("schema") != RECEIPT_SCHEMA_V1:
        envelope |= {"version": 2, "jws": f"{jws_signing_input(body)}.{signature}"}
    return envelope


def sign_receipt(*, keys: SiteKeys, body: dict[str, Any]) -> dict[str, Any]:
    """The signed envelope of a receipt body (Ed25519, as a JWS)."""
    return receipt_envelope(body, b64url(keys.sign(signed_message(body))))


def verify_receipt(envelope: dict[str, Any], public_key: bytes) -> bool:
    """Offline check of either version: the signature covers `signed_message(body)`."""
    try:
        signature = unb64url(str(envelope["signature"]))
        body = envelope["receipt"]
        message = signed_message(body)
    except (KeyError, ValueError, TypeError, AttributeError):
        return False
    return verify_signature(public_key, signature, message)


_HASH = re.compile(r"^[0-9a-f]{64}$")
_SEQ_MAX = 2**63 - 1


def _seq_and_hash(claim: object) -> tuple[int, str] | None:
    """A (seq, row hash) pair as a receipt or checkpoint states it, or None."""
    if not isinstance(claim, Mapping):
        return None
    seq, digest = claim.get("seq"), claim.get("hash", claim.get("row_hash"))
    if type(seq) is not int or not 1 <= seq <= _SEQ_MAX:
        return None
    if not isinstance(digest, str) or not _HASH.match(digest):
        return None
    return seq, digest


def _signature(value: object) -> bytes | None:
    if not isinstance(value, str) or len(value) > 200:
        return None
    try:
        return unb64url(value)
    except ValueError:
        return None


def _receipt_evidence(envelope: Mapping[str, Any], where: str) -> list[Evidence] | str:
    body, signature = envelope.get("receipt"), _signature(envelope.get("signature"))
    if not isinstance(body, Mapping) or signature is None:
        return f"{where}: not a receipt or checkpoint"
    controller, consents = body.get("controller"), body.get("consents")
    site_id = controller.get("site_id") if isinstance(controller, Mapping) else None
    if not isinstance(site_id, str) or not isinstance(consents, list):
        return f"{where}: not a receipt or checkpoint"
    receipt_id = body.get("receipt_id")
    source = f"{where} (receipt {receipt_id})" if isinstance(receipt_id, str) else where
    message = signed_message(body)
    claims = []
    for consent in consents:
        pair = _seq_and_hash(consent.get("ledger") if isinstance(consent, Mapping) else None)
        if pair is None:
            return f"{where}: a consent in the receipt names no ledger row"
        claims.append(Evidence(site_id, pair[0], pair[1], source, message, signature))
    return claims


def _checkpoint_evidence(checkpoint: Mapping[str, Any], where: str) -> list[Evidence] | str:
    site_id, signed_at = checkpoint.get("site_id"), checkpoint.get("signed_at")
    pair, signature = _seq_and_hash(checkpoint), _signature(checkpoint.get("signature"))
    if not isinstance(site_id, str) or not isinstance(signed_at, str):
        return f"{where}: not a receipt or checkpoint"
    if pair is None or signature is None:
        return f"{where}: not a receipt or checkpoint"
    seq, row_hash = pair
    message = checkpoint_message(site_id=site_id, seq=seq, row_hash=row_hash, signed_at=signed_at)
    source = f"{where} (checkpoint signed {signed_at})"
    return [Evidence(site_id, seq, row_hash, source, message, signature)]


def parse_evidence_line(line: str, where: str = "line") -> list[Evidence] | str:
    """One line of a file kept outside: a receipt envelope (alone, or inside the decision
    response that carried it), a signed checkpoint (alone, or inside a line of
    `overt ledger verify --json`). Returns its claims, or why the line is none of these.
    Signatures are checked later, against the site's key."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return f"{where}: not a receipt or checkpoint (not JSON)"
    if not isinstance(data, dict):
        return f"{where}: not a receipt or checkpoint"
    if isinstance(data.get("receipt"), dict) and "receipt" in data["receipt"]:
        data = data["receipt"]  # the whole decision response was kept
    if "receipt" in data:
        return _receipt_evidence(data, where)
    if isinstance(data.get("checkpoint"), dict):
        data = data["checkpoint"]  # a line of `overt ledger verify --json`
    return _checkpoint_evidence(data, where)


def read_evidence(lines: Iterable[str]) -> tuple[list[Evidence], list[str]]:
    """Every claim in a JSON-lines file of receipts and checkpoints, and the lines refused."""
    evidence: list[Evidence] = []
    refused: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parsed = parse_evidence_line(line, f"line {number}")
        if isinstance(parsed, str):
            refused.append(parsed)
        else:
            evidence.extend(parsed)
    return evidence, refused


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
    return [receipt_envelope(orjson.loads(row.body), row.signature) for row in rows]
