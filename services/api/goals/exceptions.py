"""Refusals about goals, each a problem+json with its own type."""

from __future__ import annotations

from shared.errors import ProblemError


class GoalNotFound(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            404, "No such goal", slug="goal-not-found", detail="This site has no such goal."
        )


class GoalNameTaken(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            409,
            "Goal name already used",
            slug="goal-name-taken",
            detail="This site has a goal with this name; delete it first or choose another.",
        )


class TooManyGoals(ProblemError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            409,
            "Too many goals",
            slug="too-many-goals",
            detail=f"A site has at most {limit} goals; delete one first.",
        )
