"""Consent errors, each a problem+json with its own type."""

from __future__ import annotations

from typing import Any

from shared.errors import ProblemError

# The consent API answers any origin (it authenticates with a credential, never a
# cookie); its errors must be readable cross-origin too, or the widget cannot react.
CORS = {"Access-Control-Allow-Origin": "*"}


class ConsentProblem(ProblemError):
    """A consent error, readable by the widget on the site's origin."""

    def __init__(
        self,
        status: int,
        title: str,
        *,
        slug: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(
            status,
            title,
            slug=slug,
            detail=detail,
            headers={**CORS, **(headers or {})},
            errors=errors,
        )


class SiteNotFound(ConsentProblem):
    def __init__(self) -> None:
        super().__init__(
            404, "Unknown site", slug="unknown-site", detail="No site is registered with this id."
        )


class UnknownPurpose(ConsentProblem):
    def __init__(self, purpose: str) -> None:
        super().__init__(
            422,
            "Unknown purpose",
            slug="unknown-purpose",
            detail=f"This site does not ask consent for {purpose!r}.",
        )


class SubjectRequired(ConsentProblem):
    def __init__(self) -> None:
        super().__init__(
            401,
            "Subject credential required",
            slug="subject-required",
            detail="Send the credential returned with your first decision: "
            "'Authorization: Bearer <credential>'.",
            headers={"WWW-Authenticate": 'Bearer realm="overt-consent"'},
        )


class InvalidSubject(ConsentProblem):
    def __init__(self) -> None:
        super().__init__(
            401,
            "Invalid subject credential",
            slug="invalid-subject",
            detail="The credential is unknown, erased, or for another site.",
            headers={"WWW-Authenticate": 'Bearer realm="overt-consent", error="invalid_token"'},
        )


class ConsentRequired(ConsentProblem):
    def __init__(self, purpose: str) -> None:
        super().__init__(
            403,
            "Consent required",
            slug="consent-required",
            detail=f"The visitor has not given {purpose!r} consent for the current notice.",
        )


class GpcOptOut(ConsentProblem):
    def __init__(self) -> None:
        super().__init__(
            403,
            "Global Privacy Control opt-out",
            slug="gpc-opt-out",
            detail="The browser sent Sec-GPC: 1; identification is refused.",
        )


class InvalidAssertion(ConsentProblem):
    def __init__(self, why: str) -> None:
        super().__init__(403, "Invalid identity assertion", slug="invalid-assertion", detail=why)


class InvalidConsentToken(ConsentProblem):
    def __init__(self, reason: str, why: str) -> None:
        super().__init__(
            401,
            "Invalid consent token",
            slug=f"consent-token-{reason}",
            detail=why,
        )


class CsrfFailed(ConsentProblem):
    def __init__(self) -> None:
        super().__init__(
            403,
            "Form check failed",
            slug="csrf",
            detail="The form is missing its anti-forgery token or it does not match; "
            "reload the preference page and try again.",
        )


class InvalidVerificationLink(ConsentProblem):
    def __init__(self) -> None:
        super().__init__(
            400,
            "Invalid or expired link",
            slug="verification-link",
            detail="This verification link is unknown, already used or expired.",
        )


class BadBody(ConsentProblem):
    def __init__(self, detail: str) -> None:
        super().__init__(400, "Bad request body", slug="bad-body", detail=detail)


class RevocationUnavailable(ConsentProblem):
    def __init__(self) -> None:
        super().__init__(
            503,
            "Withdrawal cannot be published now",
            slug="revocation-unavailable",
            detail="Nothing was recorded; please try again in a moment.",
            headers={"Retry-After": "5"},
        )
