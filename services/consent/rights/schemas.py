"""Wire models of data-subject rights: history, and the requests with their deadlines."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class HistoryOut(BaseModel):
    subject_id: str
    entries: list[dict[str, Any]]
    receipts: list[dict[str, Any]]


class RequestOut(BaseModel):
    request_id: str
    kind: str
    regime: str
    due_at: str | None
    completed_at: str | None
