"""Token errors: a consent token that does not verify, a revocation that cannot be published."""

from __future__ import annotations

from services.consent.exceptions import ConsentProblem


class InvalidConsentToken(ConsentProblem):
    def __init__(self, reason: str, why: str) -> None:
        super().__init__(
            401,
            "Invalid consent token",
            slug=f"consent-token-{reason}",
            detail=why,
        )


class RevocationUnavailable(ConsentProblem):
    def __init__(self) -> None:
        super().__init__(
            503,
            "Withdrawal cannot be published now",
            slug="revocation-unavailable",
            detail="Nothing was recorded; please try again in a moment.",
            headers={"Retry-After": "5"},
        )
