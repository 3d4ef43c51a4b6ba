"""Consent errors, each a problem+json with its own type."""

from __future__ import annotations

from shared.errors import ProblemError


class SiteNotFound(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            404, "Unknown site", slug="unknown-site", detail="No site is registered with this id."
        )


class UnknownPurpose(ProblemError):
    def __init__(self, purpose: str) -> None:
        super().__init__(
            422,
            "Unknown purpose",
            slug="unknown-purpose",
            detail=f"This site does not ask consent for {purpose!r}.",
        )


class SubjectRequired(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            401,
            "Subject credential required",
            slug="subject-required",
            detail="Send the credential returned with your first decision: "
            "'Authorization: Bearer <credential>'.",
            headers={"WWW-Authenticate": 'Bearer realm="overt-consent"'},
        )


class InvalidSubject(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            401,
            "Invalid subject credential",
            slug="invalid-subject",
            detail="The credential is unknown, erased, or for another site.",
            headers={"WWW-Authenticate": 'Bearer realm="overt-consent", error="invalid_token"'},
        )


class ConsentRequired(ProblemError):
    def __init__(self, purpose: str) -> None:
        super().__init__(
            403,
            "Consent required",
            slug="consent-required",
            detail=f"The visitor has not given {purpose!r} consent for the current notice.",
        )


class GpcOptOut(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            403,
            "Global Privacy Control opt-out",
            slug="gpc-opt-out",
            detail="The browser sent Sec-GPC: 1; identification is refused.",
        )


class InvalidAssertion(ProblemError):
    def __init__(self, why: str) -> None:
        super().__init__(403, "Invalid identity assertion", slug="invalid-assertion", detail=why)


class InvalidConsentToken(ProblemError):
    def __init__(self, reason: str, why: str) -> None:
        super().__init__(
            401,
            "Invalid consent token",
            slug=f"consent-token-{reason}",
            detail=why,
        )


class CsrfFailed(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            403,
            "Form check failed",
            slug="csrf",
            detail="The form is missing its anti-forgery token or it does not match; "
            "reload the preference page and try again.",
        )


class InvalidVerificationLink(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            400,
            "Invalid or expired link",
            slug="verification-link",
            detail="This verification link is unknown, already used or expired.",
        )


class BadBody(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(400, "Bad request body", slug="bad-body", detail=detail)
