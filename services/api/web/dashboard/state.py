"""The dashboard's state, as it lives in the URL's query string.

Everything a dashboard screen shows is decided by its URL, so a screen can be bookmarked,
shared and reloaded:

| parameter  | values                                                          | default     |
|------------|-----------------------------------------------------------------|-------------|
| `period`   | a relative range of /v1/query (day, 7d, 28d, 30d, month, 6mo,   | `30d`       |
|            | 12mo, year, all), or `custom` with `from` and `to` (YYYY-MM-DD) |             |
| `compare`  | `previous_period`, `year_over_year`; absent: no comparison      | none        |
| `interval` | hour, day, week, month: the chart's buckets                     | by period   |
| `metric`   | the tile the chart draws                                        | `visitors`  |
| `f`        | a condition, `OP,DIMENSION,VALUE` (say `is,country,DE`),        | none        |
|            | repeated; the same OP and DIMENSION again adds a value (any of  |             |
|            | them; for is_not, contains_not, matches_not: none of them)      |             |
| `tab`      | a panel's tab (panels.py: channel, region...), one per panel    | first tabs  |
| `prop`     | the custom property the Properties tab breaks down by           | its first   |
| `imports`  | `1`: add the site's imported data where it can answer           | none        |
|            | (/v1/query's `include.imports`)                                 |             |

Unknown parameters are ignored (a link may carry someone's utm_*); a known one with a value
that is not allowed is a 400 problem, never a guess. Filters are the conditions of
/v1/query's filter tree, checked by its own model, and all of them must hold (and).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import get_args
from urllib.parse import urlencode

from pydantic import ValidationError

from services.api.stats.schemas import (
    SEGMENT,
    TIME_UNITS,
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    FilterNode,
    FilterOp,
    HasDone,
    HasNotDone,
    NoneOf,
    RelativeRange,
)
from services.api.web.dashboard.panels import PANELS, PROP, TABS, Panel, Tab
from shared.errors import ProblemError

PRESETS: tuple[str, ...] = get_args(RelativeRange)
CUSTOM = "custom"
COMPARISONS = ("previous_period", "year_over_year")
DEFAULT_PERIOD = "30d"
DEFAULT_METRIC = "visitors"
# The tiles, in order; the chart draws one of them (`metric`).
TILE_METRICS = (
    "visitors",
    "visits",
    "pageviews",
    "views_per_visit",
    "bounce_rate",
    "engaged_time_p50",
    "engagement_rate",
)
# The tiles imported data can answer (it holds no engagement).
IMPORTED_TILES = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate")
MAX_FILTERS = 10
PROP_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # /v1/query's prop:KEY
# The chart's buckets when the URL names none: hours for a day, months past a quarter.
DEFAULT_INTERVAL = {"day": "hour", "6mo": "month", "12mo": "month", "year": "month", "all": "month"}


class BadDashboardState(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(400, "Bad dashboard address", slug="bad-dashboard-state", detail=detail)


OP_WORDS = {
    FilterOp.is_: "is",
    FilterOp.is_not: "is not",
    FilterOp.contains: "contains",
    FilterOp.contains_not: "does not contain",
    FilterOp.matches: "matches",
    FilterOp.matches_not: "does not match",
}
# The ops that hold for any of several values; the others (is_not...) hold for none of them.
ANY_OF = (FilterOp.is_, FilterOp.contains, FilterOp.matches)


@dataclass(frozen=True)
class Filter:
    """One condition of the screen's filters: DIMENSION OP VALUES (any of the values; for
    is_not, contains_not, matches_not: none of them), as /v1/query's condition."""

    dimension: str
    op: FilterOp
    values: tuple[str, ...]

    def condition(self) -> Condition:
        return Condition(dimension=self.dimension, op=self.op, values=list(self.values))

    def encoded(self) -> list[str]:
        """Its `f` parameters: one per value."""
        return [f"{self.op.value},{self.dimension},{value}" for value in self.values]

    def label(self, segment_names: Mapping[str, str] | None = None) -> str:
        """In words, say "country is DE or FR"; a segment by its name when it is known."""
        values = self.values
        dimension = self.dimension.replace("_", " ")
        if self.dimension == SEGMENT and segment_names is not None:
            values = tuple(segment_names.get(value, value) for value in values)
        joined = (" or " if self.op in ANY_OF else " nor ").join(values)
        return f"{dimension} {OP_WORDS[self.op]} {joined}"

    def with_values(self, added: Iterable[str]) -> Filter:
        return replace(self, values=tuple(dict.fromkeys((*self.values, *added))))


def filter_words(node: FilterNode) -> str:
    """A whole filter tree in words, as the chips say a condition: "source is Google and not
    (device is mobile)". Composite parts are bracketed, so and / or read unambiguously."""

    def part(child: FilterNode) -> str:
        words = filter_words(child)
        return words if isinstance(child, Condition) else f"({words})"

    if isinstance(node, Condition):
        return Filter(node.dimension, node.op, tuple(node.values)).label()
    if isinstance(node, AllOf):
        return " and ".join(part(child) for child in node.and_)
    if isinstance(node, AnyOf):
        return " or ".join(part(child) for child in node.or_)
    if isinstance(node, NoneOf):
        return f"not {part(node.not_)}"
    if isinstance(node, HasDone):
        return f"sessions that did {part(node.has_done)}"
    assert isinstance(node, HasNotDone)
    return f"sessions that never did {part(node.has_not_done)}"


@dataclass(frozen=True)
class DashboardState:
    """What one dashboard screen shows (see the module's table)."""

    period: str = DEFAULT_PERIOD
    first: date | None = None  # custom only
    last: date | None = None
    compare: str | None = None
    interval: str | None = None  # None: by the period (DEFAULT_INTERVAL, else day)
    metric: str = DEFAULT_METRIC
    filters: tuple[Filter, ...] = field(default=())
    tabs: tuple[str, ...] = field(default=())  # chosen tabs (keys of TABS), by panel order
    prop: str | None = None  # the Properties tab's key
    imports: bool = False  # include.imports in every question the screen asks

    def tab(self, panel: Panel) -> Tab:
        """The tab `panel` shows on this screen (the Properties tab by this screen's key)."""
        tab = panel.tab(next((key for key in self.tabs if TABS[key][0] is panel), None))
        if tab.dimension == PROP and self.prop is not None:
            return replace(tab, dimension=f"{PROP}:{self.prop}", column=self.prop)
        return tab

    def with_tab(self, key: str) -> DashboardState:
        """This state showing tab `key` in its panel."""
        panel = TABS[key][0]
        chosen = {TABS[k][0].key: k for k in self.tabs}
        chosen[panel.key] = key
        first = {p.key: p.tabs[0].key for p in PANELS}
        tabs = tuple(
            chosen[p.key] for p in PANELS if chosen.get(p.key, first[p.key]) != first[p.key]
        )
        return replace(self, tabs=tabs)

    def date_range(self) -> tuple[date, date] | str:
        """The `date_range` of /v1/query for this screen."""
        return self.custom_days() if self.period == CUSTOM else self.period

    def custom_days(self) -> tuple[date, date]:
        if self.first is None or self.last is None:
            raise ValueError("a custom period has its days")
        return self.first, self.last

    def chart_interval(self) -> str:
        if self.interval is not None:
            return self.interval
        if self.period == CUSTOM:
            first, last = self.custom_days()
            length = (last - first).days + 1
            return "hour" if length <= 2 else "day" if length <= 92 else "month"
        return DEFAULT_INTERVAL.get(self.period, "day")

    def comparison(self) -> Comparison | None:
        return Comparison.model_validate({"mode": self.compare}) if self.compare else None

    def filter_tree(self) -> FilterNode | None:
        """The screen's filters as /v1/query's filter tree (all must hold)."""
        conditions: list[FilterNode] = [f.condition() for f in self.filters]
        if not conditions:
            return None
        if len(conditions) == 1:
            return conditions[0]
        return AllOf.model_validate({"and": conditions})

    def params(self) -> list[tuple[str, str]]:
        """The query-string parameters of this state, defaults left out, in a fixed order."""
        pairs: list[tuple[str, str]] = []
        if self.period != DEFAULT_PERIOD:
            pairs.append(("period", self.period))
        if self.period == CUSTOM:
            pairs += [("from", str(self.first)), ("to", str(self.last))]
        if self.compare:
            pairs.append(("compare", self.compare))
        if self.interval:
            pairs.append(("interval", self.interval))
        if self.metric != DEFAULT_METRIC:
            pairs.append(("metric", self.metric))
        pairs += [("f", text) for f in self.filters for text in f.encoded()]
        pairs += [("tab", key) for key in self.tabs]
        if self.prop is not None:
            pairs.append(("prop", self.prop))
        if self.imports:
            pairs.append(("imports", "1"))
        return pairs

    def query_string(self) -> str:
        """`?...` for this state ('' for the default screen)."""
        pairs = self.params()
        return "?" + urlencode(pairs) if pairs else ""

    def changed(self, **changes: object) -> DashboardState:
        """This state with some fields changed (a period change drops a custom range)."""
        if "period" in changes and changes["period"] != CUSTOM:
            changes.setdefault("first", None)
            changes.setdefault("last", None)
            changes.setdefault("interval", None)
        return replace(self, **changes)  # type: ignore[arg-type]

    def with_filter(self, added: Filter) -> DashboardState:
        """This state with one more condition: values of an operator already on that
        dimension join it (country is DE, then FR: DE or FR); at most MAX_FILTERS values."""
        filters = list(self.filters)
        for index, present in enumerate(filters):
            if (present.dimension, present.op) == (added.dimension, added.op):
                filters[index] = present.with_values(added.values)
                break
        else:
            filters.append(replace(added, values=tuple(dict.fromkeys(added.values))))
        if sum(len(f.values) for f in filters) > MAX_FILTERS:
            return self
        return replace(self, filters=tuple(filters))

    def with_segment(self, segment_id: str | None) -> DashboardState:
        """This state read through one saved segment (None: none), its other filters kept."""
        kept = tuple(f for f in self.filters if f.dimension != SEGMENT)
        if segment_id is None:
            return replace(self, filters=kept)
        return replace(self, filters=(*kept, Filter(SEGMENT, FilterOp.is_, (segment_id,))))

    def segment_ids(self) -> tuple[str, ...]:
        return tuple(v for f in self.filters if f.dimension == SEGMENT for v in f.values)

    def without_filter(self, index: int) -> DashboardState:
        return replace(self, filters=self.filters[:index] + self.filters[index + 1 :])


def _one(pairs: list[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in pairs if key == name]
    if len(values) > 1:
        raise BadDashboardState(f"{name}: given {len(values)} times, at most once")
    return values[0] if values else None


def _day(name: str, text: str | None) -> date:
    if text is None:
        raise BadDashboardState(f"period custom needs {name}=YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadDashboardState(f"{name}: not a day (YYYY-MM-DD)") from None


def parse_filter(text: str) -> Filter:
    """`OP,DIMENSION,VALUE` as a filter (the value may hold commas), checked as /v1/query
    checks a condition."""
    parts = text.split(",", 2)
    if len(parts) != 3:
        raise BadDashboardState("f: a filter is OP,DIMENSION,VALUE (say is,country,DE)")
    op_text, dimension, value = parts
    try:
        op = FilterOp(op_text)
    except ValueError:
        ops = ", ".join(o.value for o in FilterOp)
        raise BadDashboardState(f"f: unknown operator (one of {ops})") from None
    try:
        Condition(dimension=dimension, op=op, values=[value])
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise BadDashboardState(f"f: {reason}") from None
    return Filter(dimension=dimension, op=op, values=(value,))


def parse_state(pairs: Iterable[tuple[str, str]]) -> DashboardState:
    """The dashboard state of a query string's (name, value) pairs (see the module's table)."""
    pairs = list(pairs)
    period = _one(pairs, "period") or DEFAULT_PERIOD
    if period not in (*PRESETS, CUSTOM):
        raise BadDashboardState(f"period: one of {', '.join(PRESETS)}, custom")
    first = last = None
    if period == CUSTOM:
        first, last = _day("from", _one(pairs, "from")), _day("to", _one(pairs, "to"))
        try:
            Comparison(mode="custom", date_range=(first, last))  # the engine's range rule
        except ValidationError as exc:
            raise BadDashboardState(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    compare = _one(pairs, "compare") or None
    if compare is not None and compare not in COMPARISONS:
        raise BadDashboardState(f"compare: one of {', '.join(COMPARISONS)}")
    interval = _one(pairs, "interval") or None
    if interval is not None and interval not in TIME_UNITS:
        raise BadDashboardState(f"interval: one of {', '.join(TIME_UNITS)}")
    metric = _one(pairs, "metric") or DEFAULT_METRIC
    if metric not in TILE_METRICS:
        raise BadDashboardState(f"metric: one of {', '.join(TILE_METRICS)}")
    texts = [value for key, value in pairs if key == "f"]
    if len(texts) > MAX_FILTERS:
        raise BadDashboardState(f"f: at most {MAX_FILTERS} filters")
    filters = DashboardState()
    for text in texts:
        filters = filters.with_filter(parse_filter(text))
    prop = _one(pairs, "prop") or None
    if prop is not None and not PROP_KEY.fullmatch(prop):
        raise BadDashboardState("prop: a property name, letters, digits and _ . - (at most 64)")
    imports = _one(pairs, "imports") or None
    if imports not in (None, "1"):
        raise BadDashboardState("imports: 1, or absent")
    state = DashboardState(filters=())
    for key in [value for key, value in pairs if key == "tab"]:
        if key not in TABS:
            raise BadDashboardState(f"tab: one of {', '.join(TABS)}")
        if any(TABS[k][0] is TABS[key][0] for k in state.tabs if k != key):
            raise BadDashboardState(f"tab: one per panel ({TABS[key][0].key} given twice)")
        state = state.with_tab(key)
    return DashboardState(
        period=period,
        first=first,
        last=last,
        compare=compare,
        interval=interval,
        metric=metric,
        filters=filters.filters,
        tabs=state.tabs,
        prop=prop,
        imports=imports is not None,
    )
