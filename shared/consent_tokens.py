"""Consent tokens for `identification`, and the revocations that end them within 1 s.

The consent service issues a token when a visitor gives `identification` consent; the
collector links an event to a subject only while `is_linkable(token, ...)` says so.

Token format (version 1), three dot-separated parts:

    oct1.<base64url(JSON payload)>.<base64url(HMAC-SHA256(key, "oct1." + payload part))>

payload: {"site": site id, "sub": subject id, "pur": purpose, "iat": issued ms, "exp": expiry ms,
"jti": random id}. The key is derived from the server secret, so every process of one
deployment can verify a token offline; a token is bound to one site and one purpose.

Revocations (withdrawal, erasure) are recorded per (site, subject) as "every token issued
at or before this instant is dead". With Redis they are a key per subject (the source of
truth, kept as long as a token can live) plus a pub/sub message that every process applies
to its local cache at once; without Redis (one process) they are applied in memory directly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("overt.consent_tokens")

TOKEN_PREFIX = "oct1"  # noqa: S105 (a format marker, not a secret)
TOKEN_LIFETIME_MS = 24 * 3600 * 1000  # the widget refreshes it; revocations live as long
IDENTIFICATION = "identification"
_OK_CACHE_MS = 30_000  # how long a "not revoked" answer from Redis is reused while subscribed


class TokenError(ValueError):
    """The token cannot be used; `reason`: malformed, signature, expired, site or purpose."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ConsentToken:
    site_id: str
    subject_id: str
    purpose: str
    issued_ms: int
    expires_ms: int
    token_id: str


def token_key(secret: bytes) -> bytes:
    """The HMAC key for consent tokens, derived from the server secret (never the secret itself)."""
    return hmac.new(secret, b"overt consent tokens v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def now_ms(now: datetime | None = None) -> int:
    return int((now.timestamp() if now is not None else time.time()) * 1000)


def issue_token(
    *,
    secret: bytes,
    site_id: str,
    subject_id: str,
    purpose: str = IDENTIFICATION,
    now: datetime | None = None,
    lifetime_ms: int = TOKEN_LIFETIME_MS,
    not_after: datetime | None = None,
) -> tuple[str, ConsentToken]:
    """A signed token for one subject, site and purpose, expiring after `lifetime_ms`."""
    issued = now_ms(now)
    expires = issued + lifetime_ms
    if not_after is not None:
        expires = min(expires, now_ms(not_after))
    token = ConsentToken(site_id, subject_id, purpose, issued, expires, secrets.token_hex(8))
    payload = _b64(
        orjson.dumps(
            {
                "site": site_id,
                "sub": subject_id,
                "pur": purpose,
                "iat": issued,
                "exp": expires,
                "jti": token.token_id,
            }
        )
    )
    signed = f"{TOKEN_PREFIX}.{payload}"
    signature = hmac.new(token_key(secret), signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{_b64(signature)}", token


def verify_token(
    token: str,
    *,
    secret: bytes,
    site_id: str,
    purpose: str = IDENTIFICATION,
    now: datetime | None = None,
) -> ConsentToken:
    """The claims of a genuine, unexpired token for this site and purpose; else TokenError."""
    parts = token.split(".") if isinstance(token, str) and len(token) < 2048 else []
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise TokenError("malformed", "not an Overt consent token")
    try:
        signature = _unb64(parts[2])
    except ValueError:
        raise TokenError("malformed", "the signature is not base64url") from None
    expected = hmac.new(
        token_key(secret), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(signature, expected):
        raise TokenError("signature", "the token's signature does not verify")
    try:
        claims = orjson.loads(_unb64(parts[1]))
        claimed = ConsentToken(
            site_id=str(claims["site"]),
            subject_id=str(claims["sub"]),
            purpose=str(claims["pur"]),
            issued_ms=int(claims["iat"]),
            expires_ms=int(claims["exp"]),
            token_id=str(claims["jti"]),
        )
    except (ValueError, KeyError, TypeError):
        raise TokenError("malformed", "the token's payload is not readable") from None
    if not hmac.compare_digest(claimed.site_id.encode(), site_id.encode()):
        raise TokenError("site", "the token was issued for another site")
    if claimed.purpose != purpose:
        raise TokenError("purpose", f"the token is not for {purpose}")
    if now_ms(now) >= claimed.expires_ms:
        raise TokenError("expired", "the token has expired")
    return claimed


# --- revocations -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Revocation:
    site_id: str
    subject_id: str
    at_ms: int
    reason: str  # "withdrawn" or "erased"


RevocationListener = Callable[[Revocation], Awaitable[None]]


class RevocationNotifier(Protocol):
    async def revoke(self, revocation: Revocation) -> None: ...

    async def revoked_at(self, *, site_id: str, subject_id: str) -> int | None: ...

    def listen(self, listener: RevocationListener) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class _LocalRevocations:
    """What every notifier keeps in memory: the latest revocation per subject, and listeners."""

    def __init__(self) -> None:
        self._revoked: dict[tuple[str, str], int] = {}
        self._listeners: list[RevocationListener] = []

    def listen(self, listener: RevocationListener) -> None:
        """Call `listener` for every revocation this process learns of (collector link purge)."""
        self._listeners.append(listener)

    def _local(self, site_id: str, subject_id: str) -> int | None:
        return self._revoked.get((site_id, subject_id))

    async def _apply(self, revocation: Revocation) -> None:
        if len(self._revoked) > 100_000:
            # A revocation older than a token's lifetime guards no live token any more.
            horizon = now_ms() - TOKEN_LIFETIME_MS - 60_000
            self._revoked = {k: at for k, at in self._revoked.items() if at >= horizon}
        key = (revocation.site_id, revocation.subject_id)
        self._revoked[key] = max(self._revoked.get(key, 0), revocation.at_ms)
        for listener in self._listeners:
            try:
                await listener(revocation)
            except Exception:
                log.exception("revocation listener failed")


class InProcessRevocations(_LocalRevocations):
    """Embedded mode: the consent service and the collector share this object in one process."""

    async def revoke(self, revocation: Revocation) -> None:
        await self._apply(revocation)

    async def revoked_at(self, *, site_id: str, subject_id: str) -> int | None:
        return self._local(site_id, subject_id)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisRevocations(_LocalRevocations):
    """Redis: a key per revoked subject (truth) and a pub/sub channel (speed) for every replica."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        super().__init__()
        self._redis = redis
        self._prefix = prefix
        self._channel = f"{prefix}:consent:revocations"
        self._checked: dict[tuple[str, str], int] = {}  # "not revoked" answers, ms when asked
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def _key(self, site_id: str, subject_id: str) -> str:
        return f"{self._prefix}:consent:revoked:{site_id}:{subject_id}"

    async def revoke(self, revocation: Revocation) -> None:
        key = self._key(revocation.site_id, revocation.subject_id)
        message = orjson.dumps(
            {
                "site": revocation.site_id,
                "sub": revocation.subject_id,
                "at": revocation.at_ms,
                "reason": revocation.reason,
            }
        )
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, revocation.at_ms, px=TOKEN_LIFETIME_MS + 60_000)
            pipe.publish(self._channel, message)
            await pipe.execute()
        await self._apply(revocation)

    async def revoked_at(self, *, site_id: str, subject_id: str) -> int | None:
        known = self._local(site_id, subject_id)
        if known is not None:
            return known
        subject = (site_id, subject_id)
        checked = self._checked.get(subject)
        current = now_ms()
        # Reuse a recent "not revoked" only while subscribed: the channel would have told us.
        if self._subscribed.is_set() and checked is not None and current - checked < _OK_CACHE_MS:
            return None
        raw = await self._redis.get(self._key(site_id, subject_id))
        if raw is None:
            if len(self._checked) > 100_000:
                self._checked.clear()
            self._checked[subject] = current
            return None
        at_ms = int(raw)
        self._revoked[subject] = max(self._revoked.get(subject, 0), at_ms)
        return at_ms

    async def start(self) -> None:
        """Subscribe to the revocation channel; returns once subscribed (at most 2 s)."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._subscribed.wait(), 2)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._subscribed.set()
                    # Anything cached as "not revoked" while we were deaf must be asked again.
                    self._checked.clear()
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is None or message.get("type") != "message":
                            continue
                        try:
                            data = orjson.loads(message["data"])
                            revocation = Revocation(
                                str(data["site"]),
                                str(data["sub"]),
                                int(data["at"]),
                                str(data["reason"]),
                            )
                        except (ValueError, KeyError, TypeError):
                            continue
                        self._checked.pop((revocation.site_id, revocation.subject_id), None)
                        await self._apply(revocation)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                log.warning("revocation channel lost (%s); resubscribing", type(exc).__name__)
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._subscribed.clear()


def open_revocations(redis: Redis | None, *, prefix: str) -> RevocationNotifier:
    """The notifier for this process: Redis-backed when Redis is configured, else in-process."""
    if redis is not None:
        return RedisRevocations(redis, prefix=prefix)
    return InProcessRevocations()


async def is_linkable(
    token: str | None,
    *,
    site_id: str,
    now: datetime | None = None,
    secret: bytes,
    revocations: RevocationNotifier,
) -> ConsentToken | None:
    """The token's claims when an event may be linked to its subject; None otherwise.

    Linkable means: a genuine `identification` token for this site, unexpired, and issued
    after the subject's latest withdrawal or erasure (Redis outage: not linkable).
    """
    claims, _ = await check_linkable(
        token, site_id=site_id, now=now, secret=secret, revocations=revocations
    )
    return claims


async def check_linkable(
    token: str | None,
    *,
    site_id: str,
    now: datetime | None = None,
    secret: bytes,
    revocations: RevocationNotifier,
) -> tuple[ConsentToken | None, str]:
    """`is_linkable` with the reason: linkable, missing, invalid, revoked or unavailable."""
    if not token:
        return None, "missing"
    try:
        claims = verify_token(token, secret=secret, site_id=site_id, now=now)
    except TokenError:
        return None, "invalid"
    try:
        revoked = await revocations.revoked_at(site_id=site_id, subject_id=claims.subject_id)
    except RedisError:
        return None, "unavailable"  # fail closed: no proof of consent, no link
    if revoked is not None and claims.issued_ms <= revoked:
        return None, "revoked"
    return claims, "linkable"
