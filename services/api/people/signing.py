"""Webhook signatures in the Standard Webhooks format (https://www.standardwebhooks.com/):
each subscription's derived secret, and how a request is signed and checked.

Verification, for a receiver: every request carries

    webhook-id:         the delivery id (the same on every retry: deduplicate on it)
    webhook-timestamp:  Unix seconds when this attempt was signed
    webhook-signature:  v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + raw body)>

where the key is the base64 decoding of the secret after its `whsec_` prefix, as the
standard says. Any Standard Webhooks library verifies it with the secret shown when the
subscription was made (Python: `standardwebhooks.webhooks.Webhook(secret).verify(body,
headers)`), in constant time, refusing timestamps more than five minutes off (replays).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def signing_secret(server_secret: bytes, subscription_id: str, nonce: str) -> str:
    """The subscription's secret: derived, never stored (the database holds only the nonce).

    Its hex digits are also valid base64, so secrets shown before the move to Standard
    Webhooks keep verifying with its libraries."""
    key = hmac.new(server_secret, b"overt webhook secrets v1", hashlib.sha256).digest()
    derived = hmac.new(key, f"{subscription_id}:{nonce}".encode(), hashlib.sha256).hexdigest()
    return f"whsec_{derived}"


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body),
    }


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """What a receiver does (the Standard Webhooks reference library; used by the tests)."""
    try:
        Webhook(secret).verify(body, dict(headers), json_parse=False)
    except WebhookVerificationError:
        return False
    return True
