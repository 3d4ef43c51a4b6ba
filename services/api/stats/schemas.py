"""Wire models of the REST API."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

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
    sessions = "sessions"
    pageviews = "pageviews"
    engaged_sessions = "engaged_sessions"
    engagement_rate = "engagement_rate"
    engaged_time_p50 = "engaged_time_p50"
    engaged_time_p90 = "engaged_time_p90"
    engaged_time_total = "engaged_time_total"
    scroll_depth_p50 = "scroll_depth_p50"
    conversions = "conversions"
    conversion_rate = "conversion_rate"
    returning_visitors = "returning_visitors"


TIME_UNITS = ("hour", "day", "week", "month")
PLAIN_DIMENSIONS = (
    "page",
    "entry_page",
    "exit_page",
    "source",
    "medium",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
    "device",
    "browser",
    "os",
    "country",
    "goal",
)
DIMENSION_PATTERN = (
    r"^(time:(hour|day|week|month)|prop:[A-Za-z0-9_.-]{1,64}|" + "|".join(PLAIN_DIMENSIONS) + ")$"
)
Dimension = Annotated[
    str,
    Field(
        pattern=DIMENSION_PATTERN,
        description="time:hour|day|week|month, prop:KEY (a custom property), or one of: "
        + ", ".join(PLAIN_DIMENSIONS),
    ),
]
FilterDimension = Annotated[
    str,
    Field(
        pattern=r"^(prop:[A-Za-z0-9_.-]{1,64}|" + "|".join(PLAIN_DIMENSIONS) + ")$",
        description="any dimension but time (the date range bounds time)",
    ),
]
MAX_REGEX = 256
MISSING = "(none)"
OTHER = "(other)"


class FilterOp(StrEnum):
    is_ = "is"
    is_not = "is_not"
    contains = "contains"
    matches = "matches"


class Condition(BaseModel):
    """One test on a dimension; several values mean 'any of them' (for is_not: none of them).
    A missing value reads as "(none)"; contains is case-insensitive; matches is a regex."""

    model_config = ConfigDict(extra="forbid")

    dimension: FilterDimension
    op: FilterOp
    values: Annotated[
        list[Annotated[str, Field(max_length=512)]], Field(min_length=1, max_length=50)
    ]

    @model_validator(mode="after")
    def _valid_patterns(self) -> Condition:
        if self.op is FilterOp.matches:
            for pattern in self.values:
                if len(pattern) > MAX_REGEX:
                    raise ValueError(f"matches: a pattern is at most {MAX_REGEX} characters")
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"matches: not a regular expression ({exc.msg})") from None
        return self


class AllOf(BaseModel):
    model_config = ConfigDict(extra="forbid")

    and_: Annotated[list[FilterNode], Field(alias="and", min_length=1, max_length=20)]


class AnyOf(BaseModel):
    model_config = ConfigDict(extra="forbid")

    or_: Annotated[list[FilterNode], Field(alias="or", min_length=1, max_length=20)]


class NoneOf(BaseModel):
    model_config = ConfigDict(extra="forbid")

    not_: Annotated[FilterNode, Field(alias="not")]


FilterNode = Condition | AllOf | AnyOf | NoneOf
MAX_FILTER_DEPTH = 6
MAX_CONDITIONS = 50


def filter_shape(node: FilterNode, depth: int = 1) -> tuple[int, int]:
    """(deepest nesting, number of conditions) of a filter tree."""
    if isinstance(node, Condition):
        return depth, 1
    children = (
        node.and_
        if isinstance(node, AllOf)
        else node.or_
        if isinstance(node, AnyOf)
        else [node.not_]
    )
    shapes = [filter_shape(child, depth + 1) for child in children]
    return max(d for d, _ in shapes), sum(n for _, n in shapes)


def check_filters(filters: FilterNode | None) -> None:
    """A filter tree is at most MAX_FILTER_DEPTH deep with at most MAX_CONDITIONS tests."""
    if filters is None:
        return
    depth, conditions = filter_shape(filters)
    if depth > MAX_FILTER_DEPTH:
        raise ValueError(f"filters: nested at most {MAX_FILTER_DEPTH} deep")
    if conditions > MAX_CONDITIONS:
        raise ValueError(f"filters: at most {MAX_CONDITIONS} conditions")


def check_date_range(first: date, last: date) -> None:
    """A date range is ordered and at most ten years long."""
    if last < first:
        raise ValueError("date_range: the last day is before the first")
    if (last - first).days > 3660:
        raise ValueError("date_range: at most ten years")


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: Annotated[str, Field(description="a metric or a dimension of the query")]
    direction: Literal["asc", "desc"] = "desc"


class QueryIn(BaseModel):
    """An aggregate query over one site's events."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    site_id: Annotated[str, Field(min_length=1, max_length=32)]
    metrics: Annotated[list[Metric], Field(min_length=1, max_length=12)]
    date_range: Annotated[
        tuple[date, date],
        Field(description="First and last day, inclusive, in the site's time zone."),
    ]
    dimensions: Annotated[list[Dimension], Field(max_length=3)] = []
    filters: FilterNode | None = None
    order_by: Annotated[list[Order], Field(max_length=3)] = []
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    offset: Annotated[int, Field(ge=0, le=100_000)] = 0
    definition_version: Annotated[
        int | None, Field(ge=0, description="answer under this stored version; latest if absent")
    ] = None

    @model_validator(mode="after")
    def _consistent(self) -> QueryIn:
        check_date_range(*self.date_range)
        if len(set(self.metrics)) != len(self.metrics):
            raise ValueError("metrics: each metric at most once")
        if len(set(self.dimensions)) != len(self.dimensions):
            raise ValueError("dimensions: each dimension at most once")
        if sum(d.startswith("time:") for d in self.dimensions) > 1:
            raise ValueError("dimensions: at most one time dimension")
        known = {m.value for m in self.metrics} | set(self.dimensions)
        for order in self.order_by:
            if order.field not in known:
                raise ValueError(
                    f"order_by: {order.field!r} is not a metric or dimension asked for"
                )
        check_filters(self.filters)
        return self


class QueryRow(BaseModel):
    dimensions: list[str]
    metrics: list[int | float | None]


class QueryMeta(BaseModel):
    timezone: str
    definition_version: int
    k: int = Field(description="k-anonymity: rows under k distinct visitors fold into (other)")
    folded_groups: int = Field(description="groups folded into the (other) row")
    suppressed: bool = Field(
        description="the (other) row itself had fewer than k visitors and was left out"
    )
    total_rows: int = Field(description="rows before limit/offset")
    source: Literal["rollup", "raw"] = Field(
        description="rollup: hourly counters (no filters, day/week/month or page, UTC-aligned "
        "days); raw: the events"
    )


class QueryOut(BaseModel):
    results: list[QueryRow]
    meta: QueryMeta
    query: QueryIn
