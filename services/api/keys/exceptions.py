"""Refusals of a request's key, each a problem+json with its own type."""

from __future__ import annotations

from shared.errors import ProblemError


class MissingKey(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            401,
            "API key required",
            slug="api-key-required",
            detail="Send 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": 'Bearer realm="overt"'},
        )


class InvalidKey(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            401,
            "Invalid API key",
            slug="invalid-api-key",
            detail="The key is unknown or revoked.",
            headers={"WWW-Authenticate": 'Bearer realm="overt", error="invalid_token"'},
        )


class MissingScope(ProblemError):
    def __init__(self, scope: str) -> None:
        super().__init__(
            403, "Scope missing", slug="missing-scope", detail=f"This key lacks the {scope} scope."
        )


class OtherSite(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            403,
            "Key not valid for this site",
            slug="wrong-site",
            detail="An API key only reads the site it was created for.",
        )


class TooManyRequests(ProblemError):
    def __init__(self, retry_after_s: int, limit: int) -> None:
        super().__init__(
            429,
            "Rate limit exceeded",
            slug="rate-limited",
            detail=f"This key may make {limit} requests per window; retry after {retry_after_s} s.",
            headers={"Retry-After": str(retry_after_s)},
        )
