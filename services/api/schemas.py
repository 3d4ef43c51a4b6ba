"""Wire models of the REST API."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Scope(StrEnum):
    stats_read = "stats:read"
    contacts_read = "contacts:read"
    outcomes_write = "outcomes:write"
    webhooks_manage = "webhooks:manage"
    # Changing a definition changes every answer (and contact scores) from then on: a key that
    # only reads stats must not be able to redefine "engaged", so writing needs its own scope.
    definitions_write = "definitions:write"


class Metric(StrEnum):
    visitors = "visitors"
    pageviews = "pageviews"


class QueryIn(BaseModel):
    """An aggregate query over one site's events."""

    model_config = ConfigDict(extra="forbid")

    site_id: Annotated[str, Field(min_length=1, max_length=32)]
    metrics: Annotated[list[Metric], Field(min_length=1, max_length=10)]
    date_range: Annotated[
        tuple[date, date],
        Field(description="First and last day, inclusive, in the site's time zone."),
    ]

    @model_validator(mode="after")
    def _ordered_range(self) -> QueryIn:
        first, last = self.date_range
        if last < first:
            raise ValueError("date_range: the last day is before the first")
        if (last - first).days > 3660:
            raise ValueError("date_range: at most ten years")
        return self


class QueryRow(BaseModel):
    metrics: list[int]
    dimensions: list[str]


class QueryMeta(BaseModel):
    timezone: str


class QueryOut(BaseModel):
    results: list[QueryRow]
    meta: QueryMeta
    query: QueryIn
