"""Refusals about contacts, outcomes and webhooks, each a problem+json with its own type."""

from __future__ import annotations

from shared.errors import ProblemError


class ContactNotFound(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            404,
            "No such contact",
            slug="contact-not-found",
            detail="No subject of this site has active identification consent under this id.",
        )


class NoIdentificationConsent(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            409,
            "No identification consent",
            slug="no-identification-consent",
            detail="Outcomes are recorded only for subjects whose identification consent is "
            "active; record it for the campaign instead.",
        )


class OutcomeIdReused(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            409,
            "Outcome id already used",
            slug="outcome-id-reused",
            detail="An outcome with this id was recorded with a different body.",
        )


class UnsafeTarget(ProblemError):
    def __init__(self, why: str) -> None:
        super().__init__(
            422,
            "Webhook target refused",
            slug="webhook-target-refused",
            detail=f"{why} Webhooks go to public addresses only.",
        )


class WebhookNotFound(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            404,
            "No such webhook",
            slug="webhook-not-found",
            detail="This site has no such webhook.",
        )
