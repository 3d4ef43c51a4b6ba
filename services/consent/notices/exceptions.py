"""Notice errors: a purpose the site does not ask consent for."""

from __future__ import annotations

from services.consent.exceptions import ConsentProblem


class UnknownPurpose(ConsentProblem):
    def __init__(self, purpose: str) -> None:
        super().__init__(
            422,
            "Unknown purpose",
            slug="unknown-purpose",
            detail=f"This site does not ask consent for {purpose!r}.",
        )
