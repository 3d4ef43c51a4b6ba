"""Imported rows for a query (`include.imports`): what the imported aggregates can answer.

Plausible documents the same limits for its imports: a report holds one breakdown per day,
so a query is answered from imports only when its dimensions and the dimensions its filters
test are all one report's (plus a day, week or month), and its metrics are what that report
keeps: counts, and the rates made of them (bounce rate = bounces / visits, visit duration =
seconds / visits, views per visit = pageviews / visits) where the report has those columns.
Conversion rates are answered from the custom events by goal or under goal filters that name
goals: each row's converting visitors, which stats.imports divides by the visitors of the
visitors report (Plausible's imported conversion rate). A day's visitors of two goal lines
cannot be added without counting a visitor twice, and imported pages are not page goals:
those rates are refused with the reason.
Otherwise the reason is returned and the answer is the site's own events. Behavioural
filters (has_done, has_not_done) need sessions, which no report holds.

Rows carry their parts (visitors, visits, pageviews, bounces, seconds, events), not rates:
stats.imports adds them to the site's own before dividing. Only completed imports count.
Rows are summed over the query's days (a day of an import is a day in the site's time zone,
as in the file). Under k (privacy.py): imported groups of a breakdown by a quasi-identifier
with fewer than k visitors fold into "(other)" as native ones do, and a filter on one that
selects or leaves out fewer than k imported visitors keeps the imports out of the answer.

A city is kept as Plausible exports it, by its GeoNames id (0: unknown), so imported cities
read as that id ("geonames:2950159"), apart from the names Overt looks up for its own events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    and_,
    case,
    cast,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.goals.service import list_goals, name_passes
from services.api.stats.imports import ImportedRows, Parts
from services.api.stats.privacy import quasi_identifiers
from services.api.stats.schemas import (
    MISSING,
    OTHER,
    AllOf,
    AnyOf,
    Condition,
    FilterNode,
    FilterOp,
    HasDone,
    HasNotDone,
    NoneOf,
    QueryIn,
    filter_children,
)
from services.api.transfer.models import IMPORTED, transfer_jobs
from services.api.transfer.reports import REPORTS, SOURCE_COLUMNS, Kind

# Overt dimension -> (report, its column)
DIMENSIONS: dict[str, tuple[str, str]] = {
    "page": ("imported_pages", "page"),
    "hostname": ("imported_pages", "hostname"),
    "entry_page": ("imported_entry_pages", "entry_page"),
    "exit_page": ("imported_exit_pages", "exit_page"),
    **{name: ("imported_sources", name) for name in SOURCE_COLUMNS},
    "device": ("imported_devices", "device"),
    "browser": ("imported_browsers", "browser"),
    "browser_version": ("imported_browsers", "browser_version"),
    "os": ("imported_operating_systems", "operating_system"),
    "os_version": ("imported_operating_systems", "operating_system_version"),
    "country": ("imported_locations", "country"),
    "region": ("imported_locations", "region"),
    "city": ("imported_locations", "city"),
    "goal": ("imported_custom_events", "name"),
    "event": ("imported_custom_events", "name"),
}
SESSIONS = {"imported_entry_pages": "entrances", "imported_exit_pages": "exits"}
# Plausible's names of what Overt counts as built-in events, not goals.
NOT_GOALS = ("Outbound Link: Click", "File Download", "404")
GEONAMES = "geonames:"
# The parts of a row (stats.imports.Parts) and the metrics made of them.
PART_METRICS: dict[str, tuple[str, ...]] = {
    "visitors": ("visitors",),
    "visits": ("visits",),
    "sessions": ("visits",),
    "pageviews": ("pageviews",),
    "events": ("events",),
    "percentage": ("visitors",),
    "bounce_rate": ("visits", "bounces"),
    "visit_duration": ("visits", "visit_duration"),
    "views_per_visit": ("visits", "pageviews"),
}
CONVERSION_RATES = {"conversion_rate", "group_conversion_rate"}
# Goal filters a conversion rate can be answered under: they name the goals converted to.
NAMING = {FilterOp.is_, FilterOp.contains, FilterOp.matches}
# Plausible keeps no per-page bounces or durations, and answers no views per visit by page.
NO_RATES = {"imported_pages"}


def part_columns(report: str) -> dict[str, str]:
    """The parts a report holds: part name -> its column."""
    counts = set(REPORTS[report].counts)
    parts = {name: name for name in ("visitors", "pageviews", "bounces", "visit_duration")}
    parts["visits"] = SESSIONS.get(report, "visits")
    parts["events"] = "events"
    return {part: column for part, column in parts.items() if column in counts}


def metric_parts(report: str, metric: str) -> tuple[str, ...] | None:
    """The parts an Overt metric needs from a report (None: the report cannot answer it)."""
    needed = PART_METRICS.get(metric)
    if needed is None or (report in NO_RATES and len(needed) > 1):
        return None
    held = part_columns(report)
    return needed if all(part in held for part in needed) else None


def filter_dimensions(node: FilterNode) -> list[str] | None:
    """The dimensions a filter tree tests (None: a behavioural filter, which needs sessions)."""
    if isinstance(node, HasDone | HasNotDone):
        return None
    if isinstance(node, Condition):
        return [node.dimension]
    found: list[str] = []
    for child in filter_children(node):
        names = filter_dimensions(child)
        if names is None:
            return None
        found += names
    return found


def plan(query: QueryIn) -> tuple[str, str | None, list[str], list[str]] | str:
    """(report, time unit, its group columns, the parts its metrics need), or why imports
    cannot answer the query."""
    filtered: list[str] = []
    if query.filters is not None:
        names = filter_dimensions(query.filters)
        if names is None:
            return "the imported data has no sessions to answer has_done / has_not_done"
        filtered = names
    unit = None
    groups: list[str] = []
    reports = set()
    for dimension in query.dimensions:
        if dimension.startswith("time:"):
            unit = dimension.split(":", 1)[1]
            if unit == "hour":
                return "the imported data has days, not hours"
            continue
        if dimension not in DIMENSIONS:
            return f"the imported data has no {dimension}"
        report, column = DIMENSIONS[dimension]
        reports.add(report)
        groups.append(column)
    for dimension in filtered:
        if dimension not in DIMENSIONS:
            return f"the imported data cannot be filtered by {dimension}"
        reports.add(DIMENSIONS[dimension][0])
    if len(reports) > 1:
        return (
            "the imported data keeps each of these dimensions and filters in a report of its "
            "own, and cannot answer them together"
        )
    report = reports.pop() if reports else "imported_visitors"
    parts: list[str] = []
    for metric in query.metrics:
        if metric.value == "conversions":
            return (
                "the imported data cannot give conversions: Overt counts converted visits, "
                "and the imported custom events hold visitors, not visits (visitors by goal "
                "or under a goal filter are the converting visitors)"
            )
        if metric.value in CONVERSION_RATES:
            reason = conversion_reason(query, filtered)
            if reason is not None:
                return reason
            needed: tuple[str, ...] | None = ("visitors",)
        else:
            needed = metric_parts(report, metric.value)
        if needed is None:
            return (
                f"the imported data has no {metric.value} by {', '.join(query.dimensions) or 'day'}"
                + (" under these filters" if filtered else "")
            )
        parts += [p for p in needed if p not in parts]
    if "visitors" not in parts:
        parts.append("visitors")
    return report, unit, groups, parts


def conversion_reason(query: QueryIn, filtered: list[str]) -> str | None:
    """Why imports cannot give this query's conversion rates (None: they can). Imported
    custom events hold each goal's visitors per day: a row's converting visitors are known
    only by goal or under a goal filter that names goals, beside a time bucket at most."""
    tested = [*query.dimensions, *filtered]
    if "goal" not in tested or "event" in tested:
        return (
            "the imported data gives conversion rates only by goal or under a goal filter: "
            "its custom events count each goal's visitors per day"
        )
    if query.filters is not None and not naming_goals(query.filters):
        return (
            "the imported data gives conversion rates under goal filters that name goals "
            "(is, contains, matches), not under their opposites"
        )
    return None


def naming_goals(node: FilterNode) -> bool:
    if isinstance(node, Condition):
        return node.op in NAMING
    if isinstance(node, AllOf | AnyOf):
        return all(naming_goals(child) for child in filter_children(node))
    return False


def bucket(day: date, unit: str | None) -> str:
    if unit == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    if unit == "month":
        return day.strftime("%Y-%m")
    return day.isoformat()


def text_value(table: Table, column: str) -> ColumnElement[str]:
    """A report column as the text /v1/query shows ("(none)" when empty or unknown)."""
    kinds = dict(REPORTS[table.name].columns)
    if kinds[column] is Kind.code:
        code = table.c[column]
        return case((code == 0, literal(MISSING)), else_=literal(GEONAMES) + cast(code, String))
    text = table.c[column]
    return case((text == "", literal(MISSING)), else_=text)


def condition(table: Table, node: FilterNode) -> ColumnElement[bool]:
    """A filter tree over a report's rows, as filter_condition reads it over events."""
    if isinstance(node, AllOf):
        return and_(*(condition(table, c) for c in node.and_))
    if isinstance(node, AnyOf):
        return or_(*(condition(table, c) for c in node.or_))
    if isinstance(node, NoneOf):
        return not_(condition(table, node.not_))
    assert isinstance(node, Condition)  # plan() let no behavioural filter through
    value = text_value(table, DIMENSIONS[node.dimension][1])
    if node.op in (FilterOp.is_, FilterOp.is_not):
        listed = value.in_(node.values)
        return listed if node.op is FilterOp.is_ else not_(listed)
    if node.op in (FilterOp.contains, FilterOp.contains_not):
        lowered = func.lower(value)
        found = or_(*(lowered.contains(v.lower(), autoescape=True) for v in node.values))
    else:
        found = or_(*(value.regexp_match(pattern) for pattern in node.values))
    return not_(found) if node.op in (FilterOp.contains_not, FilterOp.matches_not) else found


def guarded(query: QueryIn) -> bool:
    """Whether the query's filters test a quasi-identifier (privacy.py)."""
    names = filter_dimensions(query.filters) if query.filters is not None else None
    return bool(names and quasi_identifiers(names))


async def imported_rows(
    engine: AsyncEngine, query: QueryIn, timezone: str, k: int
) -> ImportedRows | str:
    """The provider of services.api.stats.imports: this query's rows from the imports."""
    planned = plan(query)
    if isinstance(planned, str):
        return planned
    report, unit, groups, parts = planned
    table = IMPORTED[report]
    if isinstance(query.date_range, str):  # stats.imports resolves relative ranges first
        return "the imported data needs the days of the range"
    columns = part_columns(report)
    first, last = query.date_range
    done = select(transfer_jobs.c.id).where(
        transfer_jobs.c.site_id == query.site_id,
        transfer_jobs.c.kind == "import",
        transfer_jobs.c.status == "completed",
    )
    where: list[ColumnElement[bool]] = [
        table.c.site_id == query.site_id,
        table.c.import_id.in_(done),
        table.c.date >= first,
        table.c.date <= last,
    ]
    tested = filter_dimensions(query.filters) if query.filters is not None else []
    if "goal" in query.dimensions or (tested and "goal" in tested):
        where.append(table.c.name.not_in(NOT_GOALS))
    converting = any(metric.value in CONVERSION_RATES for metric in query.metrics)
    if converting:
        page_goal = await page_goal_answered(engine, query)
        if page_goal is not None:
            return (
                f"the imported data cannot give the conversion rate of the page goal "
                f"{page_goal!r}: imported pages are not goals, and their visitors are not "
                "counted per goal"
            )
    matched = condition(table, query.filters) if query.filters is not None else None
    group_values = [text_value(table, g).label(f"g{i}") for i, g in enumerate(groups)]
    statement: Any = (
        select(
            table.c.date,
            *group_values,
            *(func.sum(table.c[columns[p]]).label(p) for p in parts),
            func.count().label("lines"),
        )
        .where(*where, *([matched] if matched is not None else []))
        .group_by(table.c.date, *group_values)
    )
    async with engine.connect() as conn:
        if matched is not None and k > 1 and guarded(query):
            sides = select(
                func.coalesce(func.sum(case((matched, table.c.visitors), else_=0)), 0),
                func.coalesce(func.sum(case((matched, 0), else_=table.c.visitors)), 0),
            ).where(*where)
            selected, left_out = (await conn.execute(sides)).one()
            if 0 < int(selected) < k or 0 < int(left_out) < k:
                return (
                    f"the filters select or leave out fewer than k ({k}) imported visitors: "
                    "the imported data is not added"
                )
        result = (await conn.execute(statement)).all()
    if converting and any(row.lines > 1 for row in result):
        return (
            "the imported data cannot give these conversion rates: on an imported day, one "
            "row of the answer holds several imported goal lines (several goals, or one "
            "goal by link or path), and visitors added across them may count a visitor twice"
        )
    totals: dict[tuple[str, ...], Parts] = defaultdict(lambda: dict.fromkeys(parts, 0))
    for row in result:
        named = iter([str(v) for v in row[1 : 1 + len(groups)]])
        key = tuple(
            bucket(row.date, unit) if d.startswith("time:") else next(named)
            for d in query.dimensions
        )
        sums = totals[key]
        for part in parts:
            sums[part] += int(row._mapping[part] or 0)
    notes: list[str] = []
    if quasi_identifiers(query.dimensions) and k > 1:
        totals, notes = fold(totals, k, parts=parts, dimensions=len(query.dimensions))
    if "city" in query.dimensions and any(
        key[query.dimensions.index("city")].startswith(GEONAMES) for key in totals
    ):
        notes.append(
            "imported cities are shown by their GeoNames id (geonames:…), as Plausible's "
            "export keeps them, apart from the city names of the site's own events"
        )
    return ImportedRows(rows=[(list(key), sums) for key, sums in totals.items()], notes=notes)


async def page_goal_answered(engine: AsyncEngine, query: QueryIn) -> str | None:
    """The name of a registered page goal this query's conversion rates would show, if any."""
    for goal in await list_goals(engine=engine, site_id=query.site_id):
        if goal.page is not None and (
            query.filters is None or names_goal(query.filters, goal.name)
        ):
            return goal.name
    return None


def names_goal(node: FilterNode, name: str) -> bool:
    """Whether a goal of this name passes a filter tree of naming goal conditions."""
    if isinstance(node, Condition):
        return name_passes(name, node.op.value, node.values)
    if isinstance(node, AnyOf):
        return any(names_goal(child, name) for child in node.or_)
    return all(names_goal(child, name) for child in filter_children(node))


def fold(
    totals: dict[tuple[str, ...], Parts], k: int, *, parts: Sequence[str], dimensions: int
) -> tuple[dict[tuple[str, ...], Parts], list[str]]:
    """Imported groups with fewer than k visitors into one (other) row (left out when it
    is under k too)."""
    kept: dict[tuple[str, ...], Parts] = {}
    other = dict.fromkeys(parts, 0)
    folded = 0
    for key, sums in totals.items():
        if sums["visitors"] < k:
            folded += 1
            other = {p: other[p] + sums[p] for p in parts}
        else:
            kept[key] = sums
    notes = []
    if folded:
        if other["visitors"] >= k:
            kept[(OTHER,) * dimensions] = other
            notes.append(f"imported data: {folded} groups smaller than {k} are shown as (other)")
        else:
            notes.append(
                f"imported data: {folded} groups smaller than {k} are left out: even together "
                f"they are fewer than {k} visitors"
            )
    return kept, notes
