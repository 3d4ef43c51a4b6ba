"""Consent errors every domain raises: the base problem (readable cross-origin), unknown site,
bad body. Each domain's own errors live in its exceptions.py."""

from __future__ import annotations

from typing import Any

from services.consent.http import CORS
from shared.errors import ProblemError


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


class BadBody(ConsentProblem):
    def __init__(self, detail: str) -> None:
        super().__init__(400, "Bad request body", slug="bad-body", detail=detail)


class NoSuchBridge(ConsentProblem):
    def __init__(self) -> None:
        super().__init__(
            404,
            "Unknown consent manager",
            slug="unknown-cmp",
            detail="Bridges exist for cookiebot, onetrust, klaro and cookieconsent.",
        )


class NoSuchLanguage(ConsentProblem):
    def __init__(self) -> None:
        super().__init__(
            404,
            "Unknown language",
            slug="unknown-language",
            detail="The widget speaks en, de, fr, es, it and nl.",
        )
