"""Refusals of a query or report, each a problem+json with its own type."""

from __future__ import annotations

from shared.errors import ProblemError


class KAnonymityRefused(ProblemError):
    def __init__(self, k: int, why: str) -> None:
        super().__init__(
            422,
            "Refused: the answer could identify a visitor",
            slug="k-anonymity",
            detail=f"k-anonymity (k={k}): {why}. Widen the filters or the date range.",
        )


class PatternRefused(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            422,
            "Filter not accepted by the database",
            slug="bad-filter",
            detail="A 'matches' pattern is not a regular expression the database accepts.",
        )


class QueryTimeout(ProblemError):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            503,
            "Query took too long",
            slug="query-timeout",
            detail=f"The query was stopped after {seconds:g} s. Narrow the date range, the "
            "filters or the dimensions, or use simpler patterns.",
        )
