"""Rate-limit refusals: 429 with Retry-After, readable by the widget on the site's origin."""

from __future__ import annotations

from services.consent.exceptions import ConsentProblem


class TooManyRequests(ConsentProblem):
    def __init__(self, what: str, retry_after_s: int) -> None:
        super().__init__(
            429,
            "Too many requests",
            slug="rate-limited",
            detail=f"Too many {what}; retry after {retry_after_s} s.",
            headers={"Retry-After": str(retry_after_s)},
        )
