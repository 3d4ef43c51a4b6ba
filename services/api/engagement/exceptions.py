"""Refusals about engagement definitions, each a problem+json with its own type."""

from __future__ import annotations

from shared.errors import ProblemError


class DefinitionConflict(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            409,
            "Definition changed concurrently",
            slug="definition-conflict",
            detail="Another version was stored at the same moment; read it and retry.",
        )


class UnknownDefinitionVersion(ProblemError):
    def __init__(self, version: int) -> None:
        super().__init__(
            404,
            "No such definition version",
            slug="unknown-definition-version",
            detail=f"This site has no engagement definition version {version}.",
        )
