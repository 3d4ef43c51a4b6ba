"""Preference page errors: a form post without its anti-forgery token."""

from __future__ import annotations

from services.consent.exceptions import ConsentProblem


class CsrfFailed(ConsentProblem):
    def __init__(self) -> None:
        super().__init__(
            403,
            "Form check failed",
            slug="csrf",
            detail="The form is missing its anti-forgery token or it does not match; "
            "reload the preference page and try again.",
        )
