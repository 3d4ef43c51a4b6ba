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


class NoticeChanged(ConsentProblem):
    """Consent sent for a text that is no longer the site's: it is not consent to the new one."""

    def __init__(self, purposes: list[str]) -> None:
        super().__init__(
            409,
            "Notice changed",
            slug="notice-changed",
            detail="The text shown for "
            + ", ".join(purposes)
            + " is not the current one: show the current text and ask again.",
        )
