"""How often someone may try to sign in: per account and per client, counted like every
other rate limit (shared.ratelimit: Redis when the process has it, else in process).

The account's key is a hash of its e-mail, the client's a keyed hash of its IP: neither
is kept anywhere in the clear (Redis holds only the counters under those names)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from services.api.web.auth import render
from shared.clients import client_ip
from shared.ratelimit import KeyRateLimiter, app_rate_limiter, note_verdict
from shared.runtime import Resources


@dataclass(frozen=True, slots=True)
class Refusal:
    retry_after_s: int
    detail: str


def login_limiter(request: Request, resources: Resources) -> KeyRateLimiter:
    return app_rate_limiter(
        request.app.state,
        "web_login_limiter",
        resources.redis,
        prefix=resources.settings.redis_prefix,
    )


async def login_refusal(request: Request, resources: Resources, *, email: str) -> Refusal | None:
    """Count one sign-in attempt for the account and for the client; a Refusal when either
    is over its budget (the attempt is then not even checked)."""
    settings = resources.settings
    limiter = login_limiter(request, resources)
    secret = settings.secret()
    account = hashlib.sha256(b"login account:" + email.encode()).hexdigest()[:32]
    client = hmac.new(
        secret, b"login client:" + client_ip(request, settings).encode(), hashlib.sha256
    ).hexdigest()[:32]
    window = settings.login_rate_window_s
    by_account = await limiter.hit(
        f"login:account:{account}", limit=settings.login_account_rate_limit, window_s=window
    )
    by_client = await limiter.hit(
        f"login:client:{client}", limit=settings.login_client_rate_limit, window_s=window
    )
    note_verdict(request.state, "account", by_account)
    note_verdict(request.state, "client", by_client)
    refused = [verdict for verdict in (by_account, by_client) if not verdict.allowed]
    if not refused:
        return None
    wait = max(verdict.retry_after_s for verdict in refused)
    minutes = max(1, round(wait / 60))
    return Refusal(
        retry_after_s=wait,
        detail=f"Too many attempts to sign in: try again in about {minutes} minute"
        + ("s." if minutes != 1 else "."),
    )


def refusal_page(request: Request, refusal: Refusal) -> Response:
    """The page (429, with Retry-After) for an attempt over its budget."""
    return render(
        request,
        "error.html",
        {"status": 429, "title": "Too many sign-in attempts", "detail": refusal.detail},
        status=429,
        headers={"Retry-After": str(refusal.retry_after_s)},
    )
