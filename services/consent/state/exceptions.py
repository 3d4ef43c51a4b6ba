"""State errors: an action that needs a consent the visitor has not given."""

from __future__ import annotations

from services.consent.exceptions import ConsentProblem


class ConsentRequired(ConsentProblem):
    def __init__(self, purpose: str) -> None:
        super().__init__(
            403,
            "Consent required",
            slug="consent-required",
            detail=f"The visitor has not given {purpose!r} consent for the current notice.",
        )
