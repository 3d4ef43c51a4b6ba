"""Refusals of transfer: a bad upload, an unknown job, a file not ready."""

from __future__ import annotations

from shared.errors import ProblemError


class BadUpload(ProblemError):
    """An upload that is not a readable Plausible or Umami export (422), or too large (413)."""

    def __init__(self, detail: str, *, status: int = 422) -> None:
        super().__init__(
            status,
            "Upload too large" if status == 413 else "Not a readable export",
            slug="bad-import",
            detail=detail,
        )


class JobNotFound(ProblemError):
    def __init__(self) -> None:
        super().__init__(404, "No such job", slug="not-found", detail="No such job for this site.")


class FileNotReady(ProblemError):
    def __init__(self, status: str) -> None:
        super().__init__(
            409,
            "The export is not ready",
            slug="export-not-ready",
            detail=f"The export is {status}; its file is there once it is completed.",
        )
