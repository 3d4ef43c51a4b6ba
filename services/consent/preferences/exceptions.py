"""Preference page errors: a form post without its anti-forgery token, or from another site."""

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


class CrossSiteSession(ConsentProblem):
    def __init__(self) -> None:
        super().__init__(
            403,
            "Not from this site",
            slug="cross-site-session",
            detail="The preference page opens with a credential only from the site's own "
            "pages. Open the preference page from the site, or directly.",
        )
