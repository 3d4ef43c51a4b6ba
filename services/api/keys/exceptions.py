"""Refusals of a request's key that only the API makes (the others are in shared/keys.py)."""

from __future__ import annotations

from shared.errors import ProblemError


class TooManyRequests(ProblemError):
    def __init__(self, retry_after_s: int, limit: int) -> None:
        super().__init__(
            429,
            "Rate limit exceeded",
            slug="rate-limited",
            detail=f"This key may make {limit} requests per window; retry after {retry_after_s} s.",
            headers={"Retry-After": str(retry_after_s)},
        )
