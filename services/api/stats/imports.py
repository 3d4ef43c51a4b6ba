"""Imported data in answers (`include.imports`): the one place query.py hands a query over.

The site's own answer is computed as usual (all its rows, rates unrounded, with its visits
beside any rate), the imported rows for the same query are asked of the provider
(registered by the API's composition root, so that stats never imports the transfer domain
that stores them) as their parts (visitors, visits, pageviews, bounces, seconds, events),
and rows with the same dimension values are added up part by part: a rate is divided
after the adding (bounce rate = all bounces / all visits), never averaged. Then the rows are
rounded, ordered and paginated as the query asks. With `comparisons` the other period is
answered the same way, imports included, and set beside each row.

Conversion rates with imports are Plausible's: converting visitors / visitors, for the
site's own rows and the imported ones alike, because imported custom events hold visitors per
day and goal, not visits. A row's converting visitors are its `visitors` (the query is by
goal or under a goal filter, or imports do not answer it), the base is the visitors of the
query with its goal filters taken out: of the whole query (`conversion_rate`) or of the
row's own group, its dimensions but `goal` (`group_conversion_rate`), the site's own and
imported added up before dividing. The answer's notes say so.

The provider says when the imported aggregates cannot answer a query (a metric, dimension
or filter they do not hold); the answer is then the site's own, and
`meta.imports_skip_reason` says why, in words.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.stats.comparisons import attach_comparisons, comparison_days
from services.api.stats.schemas import (
    FilterNode,
    Include,
    Metric,
    QueryIn,
    QueryMeta,
    QueryOut,
    QueryRow,
)
from services.api.stats.segments import with_segments

Row = tuple[list[str], list[int | float | None]]
# A row's parts by name: visitors, visits, pageviews, bounces, visit_duration (seconds), events
Parts = dict[str, int]


@dataclass(frozen=True, slots=True)
class ImportedRows:
    rows: list[tuple[list[str], Parts]]
    notes: list[str] = field(default_factory=list)


# (engine, query, site time zone, k) -> the imported rows, or why there can be none
ImportsProvider = Callable[[AsyncEngine, QueryIn, str, int], Awaitable[ImportedRows | str]]
_providers: list[ImportsProvider] = []
NATIVE_PAGE = 1000
# Rates made of a row's visits and one other part (the part's total per visit).
RATES: dict[Metric, tuple[str, float]] = {
    Metric.bounce_rate: ("bounces", 100.0),
    Metric.visit_duration: ("visit_duration", 1.0),
    Metric.views_per_visit: ("pageviews", 1.0),
}
CONVERSION_RATES = {Metric.conversion_rate, Metric.group_conversion_rate}
IN_VISITORS = (
    "conversion rates count visitors, as Plausible's do (converting visitors / visitors), "
    "for the site's own events and the imported alike: imported data holds no visits"
)
COUNTED = {
    Metric.visitors: "visitors",
    Metric.visits: "visits",
    Metric.sessions: "visits",
    Metric.pageviews: "pageviews",
    Metric.events: "events",
}


class ImportsSkipped(Exception):
    """The imports cannot answer a part of the query; `reason` says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VisitorBases:
    """What conversion rates with imports divide by: the visitors of the query with its goal
    filters taken out, all of them and per group (the dimensions but `goal`)."""

    total: float
    groups: dict[tuple[str, ...], float]
    goal_index: int | None  # where `goal` is among the query's dimensions

    def rate(self, metric: Metric, dimensions: Sequence[str], converted: float) -> float | None:
        if metric is Metric.conversion_rate:
            base = self.total
        else:
            key = tuple(v for i, v in enumerate(dimensions) if i != self.goal_index)
            base = self.groups.get(key, 0.0)
        return converted / base if base else None


def register_imports_provider(provider: ImportsProvider) -> None:
    """Set where imported rows come from (the API's router does, once)."""
    _providers[:] = [provider]


async def with_imports(
    *,
    engine: AsyncEngine,
    query: QueryIn,
    timeout_s: float,
    native: Callable[..., Awaitable[QueryOut]],
) -> QueryOut:
    """The answer to `query` with the site's imports added where they can answer it."""
    if query.comparisons is None:
        return await _period(engine=engine, query=query, timeout_s=timeout_s, native=native)
    alone = query.model_copy(update={"comparisons": None})
    this = await _period(engine=engine, query=alone, timeout_s=timeout_s, native=native)
    days = this.meta.date_range
    assert days is not None  # every answer says its days
    other_days = comparison_days(days, query.comparisons)
    whole = {"date_range": other_days, "limit": NATIVE_PAGE, "offset": 0}
    other = await _period(
        engine=engine, query=alone.model_copy(update=whole), timeout_s=timeout_s, native=native
    )
    results = attach_comparisons(
        this.results,
        other.results,
        dimensions=query.dimensions,
        metrics=query.metrics,
        days=days,
        other_days=other_days,
    )
    meta = this.meta.model_copy(
        update={
            "comparison_date_range": other_days,
            "notes": list(dict.fromkeys([*this.meta.notes, *other.meta.notes])),
        }
    )
    return QueryOut(results=results, meta=meta, query=query)


async def _period(
    *,
    engine: AsyncEngine,
    query: QueryIn,
    timeout_s: float,
    native: Callable[..., Awaitable[QueryOut]],
) -> QueryOut:
    """One period's answer (no comparisons), imports added where they can answer it."""
    from services.api.stats.query import _number, shape_rows, without_goals  # one home

    asked = list(query.metrics)
    needed = [Metric.visits] if set(asked) & RATES.keys() else []
    counts_visitors = Metric.percentage in asked or bool(CONVERSION_RATES & set(asked))
    needed += [Metric.visitors] if counts_visitors else []
    metrics = [*asked, *(m for m in needed if m not in asked)]
    own = query.model_copy(
        update={"include": Include(), "offset": 0, "limit": NATIVE_PAGE, "metrics": metrics}
    )
    meta, rows = await _native_rows(engine=engine, query=own, timeout_s=timeout_s, native=native)
    imported: ImportedRows | str = "no source of imported data is set up"
    if _providers:
        # the days answered (a relative range, "7d", resolved by the site's own answer) and
        # saved segments put in place, as the site's own answer read them
        filters = await with_segments(engine=engine, site_id=query.site_id, filters=query.filters)
        days = query.model_copy(
            update={"date_range": meta.date_range or query.date_range, "filters": filters}
        )
        imported = await _providers[0](engine, days, meta.timezone, meta.k)
    total: float | None = None
    bases: VisitorBases | None = None
    if not isinstance(imported, str):
        counted = partial(
            _visitors_by,
            engine=engine,
            own=own,
            imported_query=days,
            timeout_s=timeout_s,
            native=native,
            timezone=meta.timezone,
            k=meta.k,
        )
        try:
            if Metric.percentage in asked:
                # a row's share of all the visitors in scope, the site's own and imported
                total = (await counted(dimensions=[], filters=days.filters)).get((), 0.0)
            if CONVERSION_RATES & set(asked):
                # conversion rates' bases: the query's visitors, goal filters taken out
                stripped = without_goals(days.filters)
                whole = await counted(dimensions=[], filters=stripped)
                by = [d for d in query.dimensions if d != "goal"]
                groups = whole
                if Metric.group_conversion_rate in asked and by:
                    groups = await counted(dimensions=by, filters=stripped)
                goal = query.dimensions.index("goal") if "goal" in query.dimensions else None
                bases = VisitorBases(total=whole.get((), 0.0), groups=groups, goal_index=goal)
        except ImportsSkipped as unanswered:
            imported = unanswered.reason
    if isinstance(imported, str):
        rounded = [(d, [_number(m, v) for m, v in zip(asked, vs, strict=False)]) for d, vs in rows]
        shaped = shape_rows(
            [(d, v, 0, 0, False) for d, v in rounded], query=query, k=1, folded_groups=0
        )
        skipped = meta.model_copy(update={"imports_skip_reason": imported})
        return QueryOut(
            results=[QueryRow(dimensions=d, metrics=v) for d, v in shaped.rows],
            meta=skipped,
            query=query,
        )
    merged: dict[tuple[str, ...], dict[str, float]] = {}
    for dims, values in rows:
        merged[tuple(dims)] = native_parts(metrics, values)
    for dims, parts in imported.rows:
        sums = merged.setdefault(tuple(dims), {})
        for name, value in parts.items():
            sums[name] = sums.get(name, 0) + value
    shaped = shape_rows(
        [
            (list(d), metric_values(asked, parts, total, dimensions=d, bases=bases), 0, 0, False)
            for d, parts in merged.items()
        ],
        query=query,
        k=1,
        folded_groups=0,
    )
    return QueryOut(
        results=[QueryRow(dimensions=d, metrics=v) for d, v in shaped.rows],
        meta=meta.model_copy(
            update={
                "imports_included": True,
                "total_rows": shaped.total_rows,
                "notes": [*meta.notes, *imported.notes, *([IN_VISITORS] if bases else [])],
            }
        ),
        query=query,
    )


async def _native_rows(
    *,
    engine: AsyncEngine,
    query: QueryIn,
    timeout_s: float,
    native: Callable[..., Awaitable[QueryOut]],
) -> tuple[QueryMeta, list[Row]]:
    """The site's own answer to `query`, every page of it, rates unrounded (to be added to
    the imported parts)."""
    from services.api.stats.query import EXACT  # one home for it

    token = EXACT.set(True)
    try:
        first = await native(engine=engine, query=query, timeout_s=timeout_s)
        rows: list[Row] = [(r.dimensions, r.metrics) for r in first.results]
        offset = NATIVE_PAGE
        while offset < first.meta.total_rows:
            page = query.model_copy(update={"offset": offset})
            answer = await native(engine=engine, query=page, timeout_s=timeout_s)
            rows += [(r.dimensions, r.metrics) for r in answer.results]
            offset += NATIVE_PAGE
    finally:
        EXACT.reset(token)
    return first.meta, rows


async def _visitors_by(
    *,
    engine: AsyncEngine,
    own: QueryIn,
    imported_query: QueryIn,
    dimensions: list[str],
    filters: FilterNode | None,
    timeout_s: float,
    native: Callable[..., Awaitable[QueryOut]],
    timezone: str,
    k: int,
) -> dict[tuple[str, ...], float]:
    """Visitors per group of `dimensions` under `filters`, the site's own and imported added
    up (ImportsSkipped: the imports cannot give them)."""
    update = {
        "dimensions": dimensions,
        "metrics": [Metric.visitors],
        "order_by": [],
        "filters": filters,
    }
    _, rows = await _native_rows(
        engine=engine, query=own.model_copy(update=update), timeout_s=timeout_s, native=native
    )
    imported = await _providers[0](engine, imported_query.model_copy(update=update), timezone, k)
    if isinstance(imported, str):
        raise ImportsSkipped(imported)
    found: dict[tuple[str, ...], float] = {}
    for dims, values in rows:
        found[tuple(dims)] = found.get(tuple(dims), 0.0) + float(values[0] or 0)
    for dims, parts in imported.rows:
        found[tuple(dims)] = found.get(tuple(dims), 0.0) + parts.get("visitors", 0)
    return found


def native_parts(metrics: list[Metric], values: list[int | float | None]) -> dict[str, float]:
    """A native row's parts, from its counts and its unrounded rates times its visits."""
    given = dict(zip(metrics, values, strict=True))
    parts: dict[str, float] = {}
    for metric, name in COUNTED.items():
        if metric in given:
            parts[name] = float(given[metric] or 0)
    visits = parts.get("visits", 0.0)
    for metric, (name, scale) in RATES.items():
        if metric in given and name not in parts:
            parts[name] = float(given[metric] or 0) * visits / scale
    return parts


def metric_values(
    metrics: list[Metric],
    parts: dict[str, float],
    visitors_total: float | None = None,
    *,
    dimensions: Sequence[str] = (),
    bases: VisitorBases | None = None,
) -> list[int | float | None]:
    """The asked metrics of added-up parts, rounded as the site's own answer rounds them
    (`percentage`: the row's visitors in percent of `visitors_total`; conversion rates: the
    row's (converting) visitors over `bases`)."""
    from services.api.stats.query import _number

    out: list[int | float | None] = []
    visits = parts.get("visits", 0.0)
    for metric in metrics:
        if metric in CONVERSION_RATES:
            rate = bases.rate(metric, dimensions, parts.get("visitors", 0.0)) if bases else None
            out.append(_number(metric, rate))
        elif metric is Metric.percentage:
            share = parts.get("visitors", 0.0) * 100 / visitors_total if visitors_total else None
            out.append(_number(metric, share))
        elif metric in RATES:
            name, scale = RATES[metric]
            value = parts.get(name, 0.0) * scale / visits if visits else None
            out.append(_number(metric, value))
        else:
            out.append(_number(metric, parts.get(COUNTED[metric], 0.0)))
    return out
