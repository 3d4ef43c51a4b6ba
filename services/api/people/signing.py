"""Webhook signatures: each subscription's derived secret, and how a request is signed and checked.

Verification, for a receiver: every request carries

    Overt-Webhook-Id:         the delivery id (the same on every retry: deduplicate on it)
    Overt-Webhook-Timestamp:  Unix seconds when this attempt was signed
    Overt-Webhook-Signature:  v1=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>

Recompute the HMAC over the raw body with the secret shown when the subscription was made,
compare in constant time, and refuse timestamps more than five minutes old (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_VERSION = "v1"


def signing_secret(server_secret: bytes, subscription_id: str, nonce: str) -> str:
    """The subscription's secret: derived, never stored (the database holds only the nonce)."""
    key = hmac.new(server_secret, b"overt webhook secrets v1", hashlib.sha256).digest()
    derived = hmac.new(key, f"{subscription_id}:{nonce}".encode(), hashlib.sha256).hexdigest()
    return f"whsec_{derived}"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for one attempt."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, tolerance_s: int = 300
) -> bool:
    """What a receiver does (reference implementation, used by the tests)."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)
