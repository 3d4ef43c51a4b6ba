"""Verification errors: a bad identity assertion or address, a bad e-mail link, a GPC refusal."""

from __future__ import annotations

from services.consent.exceptions import ConsentProblem


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


class InvalidVerificationLink(ConsentProblem):
    def __init__(self) -> None:
        super().__init__(
            400,
            "Invalid or expired link",
            slug="verification-link",
            detail="This verification link is unknown, already used or expired.",
        )


class InvalidEmail(ConsentProblem):
    def __init__(self, why: str) -> None:
        super().__init__(
            422,
            "Invalid e-mail address",
            slug="invalid-email",
            detail=f"This is not an e-mail address Overt can mail: {why}",
        )
