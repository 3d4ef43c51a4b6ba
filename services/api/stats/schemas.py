"""Wire models of stats: the query (metrics, dimensions, filters), its answer, and the reports."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from services.api.days import check_date_range
from services.api.engagement.schemas import DefinitionVersion
from shared.dialect import compile_regex
from shared.storable import JsonInt, StorableBody


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
    # Plausible's names and units (see README, "Plausible Stats API v2 and Overt").
    visits = "visits"
    bounce_rate = "bounce_rate"
    visit_duration = "visit_duration"
    views_per_visit = "views_per_visit"
    events = "events"
    percentage = "percentage"
    time_on_page = "time_on_page"
    group_conversion_rate = "group_conversion_rate"
    total_revenue = "total_revenue"
    average_revenue = "average_revenue"


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
    "browser_version",
    "os",
    "os_version",
    "country",
    "region",
    "city",
    "goal",
    "hostname",
    "event",
    "channel",
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
        pattern=r"^(prop:[A-Za-z0-9_.-]{1,64}|segment|" + "|".join(PLAIN_DIMENSIONS) + ")$",
        description="any dimension but time (the date range bounds time), or `segment`: a "
        "saved segment's filter tree, by its id (is / is_not)",
    ),
]
MAX_REGEX = 256
MISSING = "(none)"
SEGMENT = "segment"
OTHER = "(other)"


class FilterOp(StrEnum):
    is_ = "is"
    is_not = "is_not"
    contains = "contains"
    contains_not = "contains_not"
    matches = "matches"
    matches_not = "matches_not"


PATTERN_OPS = (FilterOp.matches, FilterOp.matches_not)


class Condition(BaseModel):
    """One test on a dimension; several values mean 'any of them' (for is_not: none of them).
    A missing value reads as "(none)"; contains is case-insensitive; matches is a regular
    expression in RE2 syntax (no backreferences or lookarounds), searched for in the value;
    contains_not and matches_not hold where contains and matches do not."""

    model_config = ConfigDict(extra="forbid")

    dimension: FilterDimension
    op: FilterOp
    values: Annotated[
        list[Annotated[str, Field(max_length=512)]], Field(min_length=1, max_length=50)
    ]

    @model_validator(mode="after")
    def _valid_patterns(self) -> Condition:
        if self.dimension == SEGMENT and self.op not in (FilterOp.is_, FilterOp.is_not):
            raise ValueError("segment: only is / is_not (values are segment ids)")
        if self.op in PATTERN_OPS:
            for pattern in self.values:
                if len(pattern) > MAX_REGEX:
                    raise ValueError(f"{self.op}: a pattern is at most {MAX_REGEX} characters")
                try:
                    compile_regex(pattern)
                except ValueError as exc:
                    raise ValueError(f"{self.op}: {exc}") from None
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


class HasDone(BaseModel):
    """Behavioural: the events of sessions in which some event (in the date range) matches
    the inner tree, as Plausible's has_done (say, `{"has_done": {"dimension": "event", "op":
    "is", "values": ["Signup"]}}`: what sessions that signed up did)."""

    model_config = ConfigDict(extra="forbid")

    has_done: FilterNode


class HasNotDone(BaseModel):
    """Behavioural: the events of sessions in which no event (in the date range) matches the
    inner tree, as Plausible's has_not_done."""

    model_config = ConfigDict(extra="forbid")

    has_not_done: FilterNode


FilterNode = Condition | AllOf | AnyOf | NoneOf | HasDone | HasNotDone


def filter_children(node: FilterNode) -> list[FilterNode]:
    """The subtrees right under a node (none under a condition)."""
    if isinstance(node, AllOf):
        return list(node.and_)
    if isinstance(node, AnyOf):
        return list(node.or_)
    if isinstance(node, NoneOf):
        return [node.not_]
    if isinstance(node, HasDone):
        return [node.has_done]
    if isinstance(node, HasNotDone):
        return [node.has_not_done]
    return []


MAX_FILTER_DEPTH = 6
MAX_CONDITIONS = 50


def filter_shape(node: FilterNode, depth: int = 1) -> tuple[int, int]:
    """(deepest nesting, number of conditions) of a filter tree."""
    if isinstance(node, Condition):
        return depth, 1
    shapes = [filter_shape(child, depth + 1) for child in filter_children(node)]
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


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: Annotated[str, Field(description="a metric or a dimension of the query")]
    direction: Literal["asc", "desc"] = "desc"


RelativeRange = Literal["day", "7d", "28d", "30d", "month", "6mo", "12mo", "year", "all"]
RELATIVE_RANGES = "day, 7d, 28d, 30d, month, 6mo, 12mo, year, all"


class Comparison(BaseModel):
    """What to compare each value with: the period of the same length just before, the same
    days a year earlier, or a custom range (Plausible's `include.comparisons`)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["previous_period", "year_over_year", "custom"]
    date_range: Annotated[
        tuple[date, date] | None,
        Field(description="custom only: first and last day, inclusive"),
    ] = None

    @model_validator(mode="after")
    def _range_for_custom(self) -> Comparison:
        if (self.mode == "custom") != (self.date_range is not None):
            raise ValueError("comparisons: a date_range with mode custom, and only then")
        if self.date_range is not None:
            check_date_range(*self.date_range)
        return self


class Include(BaseModel):
    """What a query adds to the site's own events."""

    model_config = ConfigDict(extra="forbid")

    imports: bool = Field(
        default=False,
        description="add the site's completed imports (Plausible or Umami exports) where "
        "the imported aggregates can answer the query; `meta.imports_included` says whether "
        "they could, `meta.imports_skip_reason` why not. With imports included, "
        "conversion rates count visitors (converting visitors / visitors, as Plausible's), "
        "since imported data holds no visits",
    )


class QueryIn(StorableBody):
    """An aggregate query over one site's events."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    site_id: Annotated[str, Field(min_length=1, max_length=32)]
    metrics: Annotated[list[Metric], Field(min_length=1, max_length=12)]
    date_range: Annotated[
        tuple[date, date] | RelativeRange,
        Field(
            description="First and last day, inclusive, in the site's time zone; or relative "
            f"to today there ({RELATIVE_RANGES}): day is today, 7d/28d/30d end today, month, "
            "6mo, 12mo and year are whole calendar months (this one included) and whole "
            "years, all runs from the site's first day with data to today."
        ),
    ]
    dimensions: list[Dimension] = Field(default=[], max_length=3)
    filters: FilterNode | None = None
    order_by: list[Order] = Field(default=[], max_length=3)
    limit: Annotated[JsonInt, Field(ge=1, le=1000)] = 100
    offset: Annotated[JsonInt, Field(ge=0, le=100_000)] = 0
    definition_version: Annotated[
        DefinitionVersion | None,
        Field(description="answer under this stored version; latest if absent"),
    ] = None
    comparisons: Annotated[
        Comparison | None,
        Field(description="each row's values in another period, beside it (`comparison`)"),
    ] = None
    include: Include = Include()

    @model_validator(mode="after")
    def _consistent(self) -> QueryIn:
        if not isinstance(self.date_range, str):
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

    def days(self) -> tuple[date, date]:
        """The range as days, once `resolve_date_range` has replaced a relative one."""
        if isinstance(self.date_range, str):
            raise ValueError(f"date_range {self.date_range!r} is not resolved")
        return self.date_range


class RowComparison(BaseModel):
    dimensions: list[str] = Field(description="the row's dimensions (time: the compared bucket)")
    metrics: list[int | float | None] = Field(description="the values in the compared period")
    change: list[int | float | None] = Field(
        description="per metric: the change in percent, rounded (100 from nothing to "
        "something); for bounce_rate and percentage the difference in points; null when "
        "either value is"
    )


class QueryRow(BaseModel):
    dimensions: list[str]
    metrics: list[int | float | None]
    comparison: RowComparison | None = Field(
        default=None, description="with `comparisons` only: the same row in the other period"
    )

    @model_serializer(mode="wrap")
    def _without_absent_comparison(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("comparison") is None:
            data.pop("comparison", None)
        return data


class QueryMeta(BaseModel):
    timezone: str
    definition_version: int
    k: int = Field(
        description="k-anonymity: in a breakdown by a quasi-identifier (where, which device, "
        "where from: see `guarded`), rows under k distinct engaged visitors fold into (other); "
        "totals, time, pages and goals are answered whole. 1: off"
    )
    folded_groups: int = Field(description="groups folded into the (other) row")
    suppressed: bool = Field(
        description="the (other) row itself had fewer than k visitors and was left out"
    )
    guarded: list[str] = Field(
        default=[],
        description="the quasi-identifiers this query touches (dimensions and filters): "
        "k applies to it only when there is one",
    )
    notes: list[str] = Field(
        default=[],
        description="what k folded or left out and why, in words to show beside the answer",
    )
    total_rows: int = Field(description="rows before limit/offset")
    date_range: tuple[date, date] | None = Field(
        default=None, description="the days answered (a relative date_range resolved)"
    )
    comparison_date_range: tuple[date, date] | None = Field(
        default=None, description="with `comparisons`: the days compared with"
    )
    source: Literal["rollup", "raw"] = Field(
        description="rollup: hourly counters (no filters, day/week/month or page, UTC-aligned "
        "days); raw: the events"
    )
    imports_included: bool = Field(
        default=False, description="imported data was added to this answer (`include.imports`)"
    )
    imports_skip_reason: str | None = Field(
        default=None,
        description="why imported data asked for could not be added (the answer is the "
        "site's own events only)",
    )


class QueryOut(BaseModel):
    results: list[QueryRow]
    meta: QueryMeta
    query: QueryIn


# --- reports ---------------------------------------------------------------------------------

DateRange = Annotated[
    tuple[date, date], Field(description="First and last day, inclusive, in the site's time zone.")
]


class ReportIn(StorableBody):
    model_config = ConfigDict(extra="forbid")

    site_id: Annotated[str, Field(min_length=1, max_length=32)]
    date_range: DateRange
    definition_version: DefinitionVersion | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ReportIn:
        check_date_range(*self.date_range)
        return self


class FilteredReportIn(ReportIn):
    filters: FilterNode | None = Field(
        default=None,
        description="The filter tree of POST /v1/query, tested on each event the report reads. "
        "Filters on a quasi-identifier (where, which device, where from) that select, or "
        "leave out, the events of fewer than k visitors are refused (422 k-anonymity).",
    )

    @model_validator(mode="after")
    def _filter_shape(self) -> FilteredReportIn:
        check_filters(self.filters)
        return self


class AfterTheClickIn(FilteredReportIn):
    by: Literal["source", "medium", "utm_source", "utm_medium", "utm_campaign", "referrer"] = (
        "source"
    )
    limit: Annotated[JsonInt, Field(ge=1, le=1000)] = 100


class AfterTheClickRow(BaseModel):
    value: str = Field(description="the source / campaign; (other) for folded small groups")
    visitors: int
    sessions: int
    engagement_rate: float | None
    engaged_time_p50: int | None
    engaged_time_total: int
    conversions: int
    conversion_rate: float | None
    returning_visitors: int
    outcomes: dict[str, float] | None = Field(
        default=None,
        description="what followed later, when known: by utm_campaign or utm_source, the "
        "outcomes the site reported for that campaign in the range (a count per kind, "
        "'revenue:CUR' sums); null for (other)",
    )


class AfterTheClickOut(BaseModel):
    by: str
    rows: list[AfterTheClickRow]
    definition_version: int
    k: int
    notes: list[str] = Field(
        default=[],
        description="what k folded or left out and why, in words to show beside the rows",
    )


class FunnelStep(BaseModel):
    """A pageview whose path matches `page` (a glob: * and ?), or the goal `goal`."""

    model_config = ConfigDict(extra="forbid")

    page: Annotated[str | None, Field(min_length=1, max_length=256, pattern=r"^/")] = None
    goal: Annotated[str | None, Field(min_length=1, max_length=300)] = None

    @model_validator(mode="after")
    def _one(self) -> FunnelStep:
        if (self.page is None) == (self.goal is None):
            raise ValueError("a step is either a page or a goal")
        return self

    def label(self) -> str:
        return f"page {self.page}" if self.page is not None else f"goal {self.goal}"


class FunnelIn(FilteredReportIn):
    steps: Annotated[list[FunnelStep], Field(min_length=2, max_length=8)]


class FunnelStepOut(BaseModel):
    step: str
    sessions: int | None
    visitors: int | None
    drop_off: int | None = Field(description="sessions lost since the previous step")
    conversion_from_start: float | None
    suppressed: bool = Field(
        description="always false: steps are pages and goals, counted whole (kept for "
        "clients of the earlier rule, which hid steps under k)"
    )


class FunnelOut(BaseModel):
    steps: list[FunnelStepOut]
    k: int


class RetentionIn(ReportIn):
    pass


class Cohort(BaseModel):
    week: str = Field(description="Monday of the cohort's first week, in the site's time zone")
    visitors: int = Field(description="tier-1 visitors first seen that week")
    returned: list[int | None] = Field(
        description="of those, how many had a session in week 0, 1, 2... (cohorts are weeks, "
        "answered whole; never null since k guards only quasi-identifiers)"
    )


class RetentionOut(BaseModel):
    cohorts: list[Cohort]
    k: int
    note: str = "tier 1 only: visitors with an analytics id (analytics consent)"


# --- segments --------------------------------------------------------------------------------


def filter_conditions(node: FilterNode) -> list[Condition]:
    """Every condition of a filter tree."""
    if isinstance(node, Condition):
        return [node]
    return [c for child in filter_children(node) for c in filter_conditions(child)]


class SegmentIn(StorableBody):
    """A named filter tree: the filter tree of POST /v1/query, without segment conditions
    (a segment does not nest another)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=120)]
    filters: FilterNode

    @model_validator(mode="after")
    def _flat(self) -> SegmentIn:
        check_filters(self.filters)
        if any(c.dimension == SEGMENT for c in filter_conditions(self.filters)):
            raise ValueError("filters: a segment cannot use another segment")
        return self


class SegmentOut(BaseModel):
    id: str
    name: str
    filters: FilterNode
    created_at: datetime
    updated_at: datetime


class SegmentList(BaseModel):
    segments: list[SegmentOut]
