"""Subject errors: a request without a credential, or with one that does not authenticate."""

from __future__ import annotations

from services.consent.exceptions import ConsentProblem


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
