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


class MixedCurrencies(ProblemError):
    def __init__(self, currencies: list[str]) -> None:
        super().__init__(
            422,
            "Revenue in several currencies",
            slug="mixed-currencies",
            detail=f"The revenue goals in this query are in {', '.join(currencies)}: a total "
            "across currencies would be wrong (Overt holds no exchange rates). Filter to "
            "goals of one currency (goal is ...) or break down by goal.",
        )


class SegmentNotFound(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            404,
            "No such segment",
            slug="segment-not-found",
            detail="This site has no such segment.",
        )


class UnknownSegment(ProblemError):
    def __init__(self, segment_id: str) -> None:
        super().__init__(
            422,
            "Unknown segment",
            slug="unknown-segment",
            detail=f"The filters name a segment this site does not have ({segment_id[:32]!r}).",
        )


class SegmentNameTaken(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            409,
            "Segment name already used",
            slug="segment-name-taken",
            detail="This site has a segment with this name.",
        )


class TooManySegments(ProblemError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            409,
            "Too many segments",
            slug="too-many-segments",
            detail=f"A site has at most {limit} segments; delete one first.",
        )


class SegmentsTooLarge(ProblemError):
    def __init__(self, why: str) -> None:
        super().__init__(
            422,
            "Filters too large with their segments",
            slug="segments-too-large",
            detail=f"With its segments put in place, the filter tree breaks a limit: {why}.",
        )
