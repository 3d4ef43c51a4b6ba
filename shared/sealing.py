"""Sealing with the server secret (AES-256-GCM, keys derived with HKDF-SHA256).

The consent service seals identities with it; a service that may read an identity (the API,
for consented contacts) opens them with the same derivation (shared.identities).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SealError(ValueError):
    """A sealed value does not open with this server secret (wrong secret or tampered)."""


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 256-bit key for one purpose, derived from the server secret (HKDF-SHA256)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"overt consent", info=purpose.encode()
    ).derive(secret)


def seal(secret: bytes, plaintext: bytes, *, context: str) -> bytes:
    """AES-256-GCM; `context` (site, subject) is authenticated so a value cannot be moved."""
    nonce = os.urandom(12)
    return nonce + AESGCM(derive_key(secret, "seal v1")).encrypt(nonce, plaintext, context.encode())


def unseal(secret: bytes, sealed: bytes, *, context: str) -> bytes:
    try:
        return AESGCM(derive_key(secret, "seal v1")).decrypt(
            sealed[:12], sealed[12:], context.encode()
        )
    except (InvalidTag, ValueError):
        raise SealError("the value does not open with this secret and context") from None


def identity_context(site_id: str, subject_id: str) -> str:
    """What a sealed identity is bound to: it cannot be moved to another site or subject."""
    return f"identity:{site_id}:{subject_id}"
