"""Consent rate limits: every write budgeted per client and per site; every verification mail
per address, per client and per site.

Counted by shared.ratelimit: in Redis when configured (every replica spends one budget), in
process otherwise. A client is a keyed hash of its IP and an address a keyed hash of the
normalised address, so neither is stored or logged, and the Redis keys expire with their
window. Each write spends the client's budget first, so one client cannot spend the site's.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import State
from starlette.requests import Request

from services.consent.crypto import derive_key, hmac_hex
from services.consent.limits.exceptions import TooManyRequests
from shared.clients import client_ip
from shared.ratelimit import KeyRateLimiter, note_verdict, open_rate_limiter
from shared.runtime import Resources


def rate_limiter(request: Request, resources: Resources) -> KeyRateLimiter:
    """The app's consent limiter, made on first use (Redis-backed when the process has Redis)."""
    state = request.app.state
    limiter: KeyRateLimiter | None = getattr(state, "consent_rate_limiter", None)
    if limiter is None:
        limiter = open_rate_limiter(resources.redis, prefix=resources.settings.redis_prefix)
        state.consent_rate_limiter = limiter
    return limiter


def keyed(secret: bytes, kind: str, value: str) -> str:
    """A limiter key that names `value` without revealing it (HMAC with a derived key)."""
    return hmac_hex(derive_key(secret, f"consent rate limit {kind} v1"), value.encode())[:32]


async def _spend(
    limiter: KeyRateLimiter,
    key: str,
    *,
    limit: int,
    window_s: int,
    what: str,
    state: State,
    policy: str,
) -> None:
    verdict = await limiter.hit(key, limit=limit, window_s=window_s)
    note_verdict(state, policy, verdict)
    if not verdict.allowed:
        raise TooManyRequests(what, verdict.retry_after_s)


@dataclass(frozen=True, slots=True)
class Budget:
    """One request's budgets: its client (a keyed hash of the IP) and the limiter to spend."""

    limiter: KeyRateLimiter
    resources: Resources
    client: str
    state: State  # the request's, where each verdict is noted for the RateLimit fields

    async def spend_write(self, site_id: str) -> None:
        """One consent write: per client, then per site; 429 when either is spent."""
        settings = self.resources.settings
        window = settings.consent_rate_window_s
        await _spend(
            self.limiter,
            f"consent:write:client:{self.client}",
            limit=settings.consent_client_rate_limit,
            window_s=window,
            what="consent requests from this network",
            state=self.state,
            policy="client",
        )
        await _spend(
            self.limiter,
            f"consent:write:site:{site_id}",
            limit=settings.consent_site_rate_limit,
            window_s=window,
            what="consent requests for this site",
            state=self.state,
            policy="site",
        )

    async def spend_mail(self, site_id: str, address: str) -> None:
        """One verification mail: per address, per client, per site; 429 when one is spent."""
        settings = self.resources.settings
        window = settings.consent_mail_window_s
        hashed = keyed(settings.secret(), "address", address)
        for policy, key, limit, what in (
            (
                "mail-address",
                f"consent:mail:address:{hashed}",
                settings.consent_mails_per_address,
                "verification mails to this address",
            ),
            (
                "mail-client",
                f"consent:mail:client:{self.client}",
                settings.consent_mails_per_client,
                "verification mails asked from this network",
            ),
            (
                "mail-site",
                f"consent:mail:site:{site_id}",
                settings.consent_mails_per_site,
                "verification mails for this site",
            ),
        ):
            await _spend(
                self.limiter,
                key,
                limit=limit,
                window_s=window,
                what=what,
                state=self.state,
                policy=policy,
            )


def request_budget(request: Request, resources: Resources) -> Budget:
    """The budgets of the client behind `request` (its IP is hashed here and dropped)."""
    client = keyed(resources.settings.secret(), "client", client_ip(request, resources.settings))
    return Budget(
        limiter=rate_limiter(request, resources),
        resources=resources,
        client=client,
        state=request.state,
    )
