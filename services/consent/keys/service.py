"""Per-site keys: the Ed25519 key that signs checkpoints and receipts, the assertion secret."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.consent.crypto import (
    b64url,
    key_id_for,
    new_signing_key,
    private_key_from,
    seal,
    unseal,
)
from services.consent.exceptions import SiteNotFound
from services.consent.keys.models import consent_site_keys
from shared.dialect import insert_if_absent


@dataclass(frozen=True, slots=True)
class SiteKeys:
    site_id: str
    key_id: str
    public_key: bytes
    private_key: Ed25519PrivateKey
    assertion_secret: bytes

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def jwk(self) -> dict[str, str]:
        """The public key as a JSON Web Key (RFC 8037), for offline verification."""
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "kid": self.key_id,
            "use": "sig",
            "alg": "EdDSA",
            "x": b64url(self.public_key),
        }


def _context(site_id: str, part: str) -> str:
    return f"site-key:{part}:{site_id}"


async def create_site_keys(*, conn: AsyncConnection, secret: bytes, site_id: str) -> None:
    """Make the site's keys once (race-free: a second caller's insert is ignored)."""
    private, public = new_signing_key()
    await insert_if_absent(
        conn,
        consent_site_keys,
        {
            "site_id": site_id,
            "key_id": key_id_for(public),
            "public_key": public,
            "private_key_sealed": seal(
                secret, private.private_bytes_raw(), context=_context(site_id, "ed25519")
            ),
            "assertion_secret_sealed": seal(
                secret, secrets.token_bytes(32), context=_context(site_id, "assertion")
            ),
            "created_at": datetime.now(UTC),
        },
    )


async def load_site_keys(*, conn: AsyncConnection, secret: bytes, site_id: str) -> SiteKeys | None:
    """The site's keys, unsealed; a public key that does not match the sealed private key fails.

    The check matters: someone with write access to the database could swap in a key pair of
    their own, but cannot seal a private key without the server secret.
    """
    row = (
        await conn.execute(select(consent_site_keys).where(consent_site_keys.c.site_id == site_id))
    ).first()
    if row is None:
        return None
    private = private_key_from(
        unseal(secret, row.private_key_sealed, context=_context(site_id, "ed25519"))
    )
    public = private.public_key().public_bytes_raw()
    if public != bytes(row.public_key) or key_id_for(public) != row.key_id:
        raise ValueError(f"site {site_id}: the stored public key is not the sealed key's")
    return SiteKeys(
        site_id=site_id,
        key_id=row.key_id,
        public_key=public,
        private_key=private,
        assertion_secret=unseal(
            secret, row.assertion_secret_sealed, context=_context(site_id, "assertion")
        ),
    )


async def site_keys(*, conn: AsyncConnection, secret: bytes, site_id: str) -> SiteKeys:
    """The site's unsealed keys; 404 when the site has none."""
    keys = await load_site_keys(conn=conn, secret=secret, site_id=site_id)
    if keys is None:
        raise SiteNotFound()
    return keys
