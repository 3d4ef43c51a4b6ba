"""What a dashboard screen shows, asked of the query engine behind POST /v1/query.

The dashboard is a client of `answer_query` (and of `realtime` for current visitors), never
a second engine: each tile, the chart and each panel is one /v1/query question, and the
numbers on screen are its answer. What this module adds is presentation only: the chart's
empty buckets (a count of nothing is 0, a rate of nothing is no value), the comparison
series lined up bucket by bucket (the engine's `bucket_index`), and a table's bar widths.

A screen's questions, in order: the tiles (all seven metrics with the comparison), whose
answer fixes the days (a relative range resolved in the site's zone); then the chart (this
period and, with a comparison, the other one) and the panels, side by side, at most
`PARALLEL` at a time. A refusal (k-anonymity, a timeout) of the tiles is the screen's: the
filters are the same for every question; a panel's own refusal stays in that panel.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.days import day_bounds
from services.api.stats.comparisons import COUNTS, bucket_index
from services.api.stats.query import answer_query, reading
from services.api.stats.realtime import RealtimeOut, realtime
from services.api.stats.schemas import (
    AllOf,
    Condition,
    FilterNode,
    FilterOp,
    Include,
    Metric,
    Order,
    QueryIn,
    QueryMeta,
    QueryOut,
)
from services.api.web.dashboard import display
from services.api.web.dashboard.panels import PANELS, PROP, SHOWN, Panel, Tab
from services.api.web.dashboard.state import (
    IMPORTED_TILES,
    PROP_KEY,
    TILE_METRICS,
    DashboardState,
)
from shared.dialect import json_object_keys
from shared.errors import ProblemError
from shared.models import events

PARALLEL = 4  # questions of one screen running at once
MAX_PROP_KEYS = 30
MAX_BUCKETS = 1000  # /v1/query's row limit: a finer interval gives way to a coarser one
COARSER = {"hour": "day", "day": "week", "week": "month"}
Number = int | float | None
T = TypeVar("T")


@dataclass(frozen=True)
class Tile:
    metric: str
    value: Number
    before: Number  # in the comparison period; None without a comparison
    change: Number  # /v1/query's change: percent, or points for shares

    @property
    def label(self) -> str:
        return display.label(self.metric)

    @property
    def text(self) -> str:
        return display.value_text(self.metric, self.value)

    @property
    def before_text(self) -> str:
        return display.value_text(self.metric, self.before)

    @property
    def change_text(self) -> str:
        return display.change_text(self.metric, self.change)

    @property
    def mood(self) -> str:
        return display.change_mood(self.metric, self.change)


@dataclass(frozen=True)
class Headline:
    tiles: list[Tile]
    days: tuple[date, date]
    other_days: tuple[date, date] | None
    timezone: str
    k: int
    definition_version: int
    notes: list[str] = field(default_factory=list)  # what imported data the tiles hold

    def tile(self, metric: str) -> Tile:
        return next(tile for tile in self.tiles if tile.metric == metric)


@dataclass(frozen=True)
class Series:
    metric: str
    interval: str
    labels: list[str]  # every bucket of the period, in the site's zone
    values: list[Number]
    other_labels: list[str] | None  # the comparison period's buckets, by place
    other_values: list[Number] | None


@dataclass(frozen=True)
class PanelRow:
    value: str
    metrics: list[Number]
    share: float  # visitors as a percentage of the screen's visitors (the bar's width)


@dataclass(frozen=True)
class PanelView:
    panel: Panel
    tab: Tab
    rows: list[PanelRow] = field(default_factory=list)
    total_rows: int = 0
    offset: int = 0
    notes: list[str] = field(default_factory=list)
    refused: str | None = None  # the engine's refusal, in words
    choices: list[str] = field(default_factory=list)  # the Properties tab's keys

    @property
    def next_offset(self) -> int | None:
        """Where "show more" continues, or None when every row is shown."""
        end = self.offset + len(self.rows)
        return end if end < self.total_rows else None


@dataclass(frozen=True)
class Screen:
    state: DashboardState
    headline: Headline | None
    series: Series | None
    panels: list[PanelView]
    refused: str | None = None  # the whole screen's refusal (the tiles'), in words


def question(
    *,
    site_id: str,
    state: DashboardState,
    metrics: list[str],
    date_range: tuple[date, date] | str | None = None,
    dimensions: list[str] | None = None,
    extra: FilterNode | None = None,
    compare: bool = False,
    imports: bool | None = None,
    limit: int = 100,
    offset: int = 0,
    order_by: list[Order] | None = None,
) -> QueryIn:
    """The /v1/query body a part of the screen asks (what `POST /v1/query` would be sent);
    `imports`: include imported data (by default as the screen says)."""
    parts = [node for node in (state.filter_tree(), extra) if node is not None]
    filters: FilterNode | None = None
    if len(parts) == 1:
        filters = parts[0]
    elif parts:
        filters = AllOf.model_validate({"and": parts})
    return QueryIn(
        site_id=site_id,
        metrics=[Metric(m) for m in metrics],
        date_range=date_range if date_range is not None else state.date_range(),
        dimensions=dimensions or [],
        filters=filters,
        comparisons=state.comparison() if compare else None,
        include=Include(imports=state.imports if imports is None else imports),
        limit=limit,
        offset=offset,
        order_by=order_by or [],
    )


async def load_headline(
    *, engine: AsyncEngine, site_id: str, state: DashboardState, timeout_s: float
) -> Headline:
    """The tiles: every tile metric over the screen's period, with the comparison's change.
    With imported data, the tiles it can answer are asked with it and the engagement tiles
    without (imports hold no engagement), so neither keeps the other's imports out."""
    groups = [list(TILE_METRICS)]
    if state.imports:
        groups = [list(IMPORTED_TILES), [m for m in TILE_METRICS if m not in IMPORTED_TILES]]
    answers = [
        await answer_query(
            engine=engine,
            query=question(
                site_id=site_id,
                state=state,
                metrics=group,
                compare=True,
                imports=state.imports and index == 0,
            ),
            timeout_s=timeout_s,
        )
        for index, group in enumerate(groups)
    ]
    found: dict[str, Tile] = {}
    for group, answer in zip(groups, answers, strict=True):
        row = answer.results[0] if answer.results else None
        for i, metric in enumerate(group):
            compared = row.comparison if row else None
            found[metric] = Tile(
                metric=metric,
                value=row.metrics[i] if row else (0 if Metric(metric) in COUNTS else None),
                before=compared.metrics[i] if compared else None,
                change=compared.change[i] if compared else None,
            )
    meta = answers[0].meta
    assert meta.date_range is not None  # always given once resolved
    return Headline(
        tiles=[found[metric] for metric in TILE_METRICS],
        days=meta.date_range,
        other_days=meta.comparison_date_range,
        timezone=meta.timezone,
        k=meta.k,
        definition_version=meta.definition_version,
        notes=imported_words(meta, tiles=True) if state.imports else [],
    )


def imported_words(meta: QueryMeta, *, tiles: bool = False) -> list[str]:
    """What an answer asked with imported data says of it, in words for the screen."""
    if meta.imports_skip_reason is not None:
        return [f"Imported data is not included here: {meta.imports_skip_reason}."]
    if tiles and meta.imports_included:
        return [
            "Imported data is included in visitors, visits, pageviews, views per visit and "
            "bounce rate; engaged time and engagement rate are the site's own events."
        ]
    return []


def buckets(days: tuple[date, date], interval: str) -> list[str]:
    """Every bucket label /v1/query's `time:INTERVAL` can answer for `days`, in order."""
    first, last = days
    labels: list[str] = []
    if interval == "month":
        index, end = first.year * 12 + first.month - 1, last.year * 12 + last.month - 1
        return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index, end + 1)]
    day = first - timedelta(days=first.weekday()) if interval == "week" else first
    step = timedelta(days=7 if interval == "week" else 1)
    while day <= last:
        if interval == "hour":
            labels += [f"{day.isoformat()}T{hour:02d}:00" for hour in range(24)]
        else:
            labels.append(day.isoformat())
        day += step
    return labels


def fitting_interval(days: tuple[date, date], interval: str) -> str:
    """`interval`, or a coarser one when the period has more buckets than a query answers."""
    while interval in COARSER and len(buckets(days, interval)) > MAX_BUCKETS:
        interval = COARSER[interval]
    return interval


def _by_bucket(answer: QueryOut, labels: list[str], metric: str) -> list[Number]:
    """The answer's value at each label ('' is no bucket: no value); an empty bucket
    counts 0, or has no value for a rate or an average."""
    found = {row.dimensions[0]: row.metrics[0] for row in answer.results}
    empty: Number = 0 if Metric(metric) in COUNTS else None
    return [found.get(label, empty) if label else None for label in labels]


async def load_series(
    *,
    engine: AsyncEngine,
    site_id: str,
    state: DashboardState,
    headline: Headline,
    timeout_s: float,
) -> Series:
    """The chart: the screen's metric by time bucket, and the comparison period's beside it,
    bucket for bucket by place (the third day with the third day)."""
    interval = fitting_interval(headline.days, state.chart_interval())
    periods = [headline.days] + ([headline.other_days] if headline.other_days else [])
    answers = await asyncio.gather(
        *(
            answer_query(
                engine=engine,
                query=question(
                    site_id=site_id,
                    state=state,
                    metrics=[state.metric],
                    date_range=days,
                    dimensions=[f"time:{interval}"],
                    limit=MAX_BUCKETS,
                ),
                timeout_s=timeout_s,
            )
            for days in periods
        )
    )
    labels = buckets(headline.days, interval)
    values = _by_bucket(answers[0], labels, state.metric)
    other_labels = other_values = None
    if headline.other_days is not None:
        other_first = headline.other_days[0]
        placed = {
            bucket_index(label, interval, other_first): label
            for label in buckets(headline.other_days, interval)
        }
        # The other period's bucket at each place of this one ('' past its end).
        other_labels = [
            placed.get(bucket_index(label, interval, headline.days[0]), "") for label in labels
        ]
        other_values = _by_bucket(answers[1], other_labels, state.metric)
    return Series(
        metric=state.metric,
        interval=interval,
        labels=labels,
        values=values,
        other_labels=other_labels,
        other_values=other_values,
    )


def tab_question(
    *,
    site_id: str,
    state: DashboardState,
    tab: Tab,
    days: tuple[date, date],
    offset: int,
    limit: int,
) -> QueryIn:
    """The /v1/query body of a panel's tab: its dimension by its metrics, most visitors first."""
    extra = Condition(dimension="event", op=FilterOp.is_, values=[tab.event]) if tab.event else None
    return question(
        site_id=site_id,
        state=state,
        metrics=list(tab.metrics),
        date_range=days,
        dimensions=[tab.dimension],
        extra=extra,
        limit=limit,
        offset=offset,
        order_by=[Order(field="visitors"), Order(field=tab.dimension, direction="asc")],
    )


async def load_panel(
    *,
    engine: AsyncEngine,
    site_id: str,
    state: DashboardState,
    panel: Panel,
    tab: Tab,
    headline: Headline,
    timeout_s: float,
    offset: int = 0,
    limit: int = SHOWN,
) -> PanelView:
    """One tab of a panel: `limit` rows from `offset`, with what k folded, in words. The
    Properties tab lists the keys seen in the period and breaks down by the screen's (or
    the first)."""
    choices: list[str] = []
    if tab.dimension.split(":")[0] == PROP:
        choices = await prop_keys(
            engine=engine, site_id=site_id, headline=headline, timeout_s=timeout_s
        )
        if tab.dimension == PROP:
            if not choices:
                return PanelView(panel=panel, tab=tab, offset=offset)
            tab = replace(tab, dimension=f"{PROP}:{choices[0]}", column=choices[0])
    body = tab_question(
        site_id=site_id, state=state, tab=tab, days=headline.days, offset=offset, limit=limit
    )
    try:
        answer = await answer_query(engine=engine, query=body, timeout_s=timeout_s)
    except ProblemError as refusal:
        return PanelView(
            panel=panel, tab=tab, offset=offset, refused=refusal.detail, choices=choices
        )
    total = headline.tile("visitors").value or 0
    rows = [
        PanelRow(
            value=row.dimensions[0],
            metrics=row.metrics,
            share=min(100.0, 100.0 * float(row.metrics[0] or 0) / total) if total else 0.0,
        )
        for row in answer.results
    ]
    return PanelView(
        panel=panel,
        tab=tab,
        rows=rows,
        total_rows=answer.meta.total_rows,
        offset=offset,
        notes=[*answer.meta.notes, *(imported_words(answer.meta) if state.imports else [])],
        choices=choices,
    )


async def prop_keys(
    *, engine: AsyncEngine, site_id: str, headline: Headline, timeout_s: float
) -> list[str]:
    """The custom property keys the site's events carry in the screen's period (at most
    MAX_PROP_KEYS, in order): what the Properties tab offers."""
    start, end = day_bounds(*headline.days, headline.timezone)
    statement = json_object_keys(
        engine.dialect.name,
        events,
        events.c.props,
        events.c.site_id == site_id,
        events.c.occurred_at >= start,
        events.c.occurred_at < end,
        events.c.name != "engagement",
    ).limit(MAX_PROP_KEYS)
    async with reading(engine, timeout_s, filtered=False) as conn:
        keys = [str(key) for key in (await conn.execute(statement)).scalars()]
    return [key for key in keys if PROP_KEY.fullmatch(key)]


async def _bounded(limit: asyncio.Semaphore, work: Callable[[], Awaitable[T]]) -> T:
    async with limit:
        return await work()


async def load_screen(
    *, engine: AsyncEngine, site_id: str, state: DashboardState, timeout_s: float
) -> Screen:
    """Everything the dashboard's first screen shows (see the module's docstring)."""
    try:
        headline = await load_headline(
            engine=engine, site_id=site_id, state=state, timeout_s=timeout_s
        )
    except ProblemError as refusal:
        return Screen(state=state, headline=None, series=None, panels=[], refused=refusal.detail)
    limit = asyncio.Semaphore(PARALLEL)

    def panel_work(panel: Panel) -> Callable[[], Awaitable[PanelView]]:
        return lambda: load_panel(
            engine=engine,
            site_id=site_id,
            state=state,
            panel=panel,
            tab=state.tab(panel),
            headline=headline,
            timeout_s=timeout_s,
        )

    async def chart() -> Series | None:
        try:
            return await load_series(
                engine=engine, site_id=site_id, state=state, headline=headline, timeout_s=timeout_s
            )
        except ProblemError:
            return None

    series, *panels = await asyncio.gather(
        _bounded(limit, chart), *(_bounded(limit, panel_work(panel)) for panel in PANELS)
    )
    assert series is None or isinstance(series, Series)
    return Screen(
        state=state,
        headline=headline,
        series=series,
        panels=[p for p in panels if isinstance(p, PanelView)],
    )


async def current_visitors(*, engine: AsyncEngine, site_id: str, timeout_s: float) -> RealtimeOut:
    """Who is on the site now, and the last half hour's pages and sources (realtime.py)."""
    return await realtime(engine=engine, site_id=site_id, limit=SHOWN, timeout_s=timeout_s)


def screen_csv(screen: Screen) -> str:
    """What a screen shows, as one CSV table: section, row, metric, value, and the
    comparison's value and change where there is one."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["section", "row", "metric", "value", "comparison_value", "change"])
    if screen.headline is not None:
        first, last = screen.headline.days
        writer.writerow(["period", f"{first}..{last}", "", "", "", ""])
        if screen.headline.other_days:
            before_first, before_last = screen.headline.other_days
            writer.writerow(["comparison period", f"{before_first}..{before_last}", "", "", "", ""])
        for tile in screen.headline.tiles:
            compared = screen.headline.other_days is not None
            writer.writerow(
                [
                    "totals",
                    "",
                    tile.metric,
                    _cell(tile.value),
                    _cell(tile.before) if compared else "",
                    _cell(tile.change) if compared else "",
                ]
            )
    if screen.series is not None:
        series = screen.series
        for i, label in enumerate(series.labels):
            other = series.other_values[i] if series.other_values is not None else None
            writer.writerow(
                [
                    f"chart by {series.interval}",
                    label,
                    series.metric,
                    _cell(series.values[i]),
                    _cell(other) if series.other_values is not None else "",
                    "",
                ]
            )
    for view in screen.panels:
        for row in view.rows:
            for metric, value in zip(view.tab.metrics, row.metrics, strict=True):
                writer.writerow([view.tab.label, _safe(row.value), metric, _cell(value), "", ""])
    return out.getvalue()


def _cell(value: Number) -> str:
    return "" if value is None else str(value)


def _safe(text: str) -> str:
    """A value a spreadsheet would run as a formula, made text (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
