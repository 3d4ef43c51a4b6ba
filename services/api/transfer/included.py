"""Imported rows for a query (`include.imports`): what the imported aggregates can answer.

Plausible documents the same limits for its imports: a report holds one breakdown per day,
so a query is answered from imports only when all its dimensions are one report's (plus a
day, week or month), its metrics are counts that report keeps, and it has no filters.
Otherwise the reason is returned and the answer is the site's own events.

Only completed imports count. Rows are summed over the query's days (a day of an import is
a day in the site's time zone, as in the file). In a breakdown by a quasi-identifier
(privacy.py) imported groups under k visitors fold into "(other)" as native ones do.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.stats.imports import ImportedRows
from services.api.stats.privacy import quasi_identifiers
from services.api.stats.schemas import MISSING, OTHER, QueryIn
from services.api.transfer.models import IMPORTED, transfer_jobs
from services.api.transfer.reports import SOURCE_COLUMNS

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
    "goal": ("imported_custom_events", "name"),
    "event": ("imported_custom_events", "name"),
}
SESSIONS = {"imported_entry_pages": "entrances", "imported_exit_pages": "exits"}
# Plausible's names of what Overt counts as built-in events, not goals.
NOT_GOALS = ("Outbound Link: Click", "File Download", "404")


def metric_column(report: str, metric: str) -> str | None:
    """The report's column for an Overt metric (None: the report does not keep it)."""
    events_only = report == "imported_custom_events"
    if metric == "visitors":
        return "visitors"
    if metric in ("sessions", "visits") and not events_only:
        return SESSIONS.get(report, "visits")
    if metric == "pageviews" and not events_only:
        return "pageviews"
    if metric == "events" and events_only:
        return "events"
    return None


def plan(query: QueryIn) -> tuple[str, str | None, list[str], list[str]] | str:
    """(report, time unit, its group columns, its metric columns), or why imports cannot
    answer the query."""
    if query.filters is not None:
        return "the imported data cannot answer filters"
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
    if len(reports) > 1:
        return "the imported data keeps each of these dimensions in a report of its own"
    report = reports.pop() if reports else "imported_visitors"
    columns = []
    for metric in query.metrics:
        counted = metric_column(report, metric.value)
        if counted is None:
            return (
                f"the imported data has no {metric.value} by {', '.join(query.dimensions) or 'day'}"
            )
        columns.append(counted)
    return report, unit, groups, columns


def bucket(day: date, unit: str | None) -> str:
    if unit == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    if unit == "month":
        return day.strftime("%Y-%m")
    return day.isoformat()


async def imported_rows(
    engine: AsyncEngine, query: QueryIn, timezone: str, k: int
) -> ImportedRows | str:
    """The provider of services.api.stats.imports: this query's rows from the imports."""
    planned = plan(query)
    if isinstance(planned, str):
        return planned
    report, unit, groups, columns = planned
    table = IMPORTED[report]
    done = select(transfer_jobs.c.id).where(
        transfer_jobs.c.site_id == query.site_id,
        transfer_jobs.c.kind == "import",
        transfer_jobs.c.status == "completed",
    )
    if isinstance(query.date_range, str):  # stats.imports resolves relative ranges first
        return "the imported data needs the days of the range"
    first, last = query.date_range
    statement: Any = (
        select(
            table.c.date,
            *(table.c[g] for g in groups),
            *(func.sum(table.c[c]).label(f"m{i}") for i, c in enumerate(columns)),
            func.sum(table.c.visitors).label("group_visitors"),
        )
        .where(
            table.c.site_id == query.site_id,
            table.c.import_id.in_(done),
            table.c.date >= first,
            table.c.date <= last,
        )
        .group_by(table.c.date, *(table.c[g] for g in groups))
    )
    if "goal" in query.dimensions:
        statement = statement.where(table.c.name.not_in(NOT_GOALS))
    async with engine.connect() as conn:
        result = (await conn.execute(statement)).all()
    totals: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0] * (len(columns) + 1))
    for row in result:
        values = [str(v) if str(v) != "" else MISSING for v in row[1 : 1 + len(groups)]]
        named = iter(values)
        key = tuple(
            bucket(row.date, unit) if d.startswith("time:") else next(named)
            for d in query.dimensions
        )
        sums = totals[key]
        for i in range(len(columns)):
            sums[i] += int(row._mapping[f"m{i}"] or 0)
        sums[-1] += int(row.group_visitors or 0)
    notes: list[str] = []
    if quasi_identifiers(query.dimensions) and k > 1:
        totals, notes = fold(totals, k, width=len(columns), dimensions=len(query.dimensions))
    return ImportedRows(
        rows=[(list(key), list(sums[:-1])) for key, sums in totals.items()], notes=notes
    )


def fold(
    totals: dict[tuple[str, ...], list[int]], k: int, *, width: int, dimensions: int
) -> tuple[dict[tuple[str, ...], list[int]], list[str]]:
    """Imported groups with fewer than k visitors into one (other) row (left out when it
    is under k too)."""
    kept: dict[tuple[str, ...], list[int]] = {}
    other = [0] * (width + 1)
    folded = 0
    for key, sums in totals.items():
        if sums[-1] < k:
            folded += 1
            other = [a + b for a, b in zip(other, sums, strict=True)]
        else:
            kept[key] = sums
    notes = []
    if folded:
        if other[-1] >= k:
            kept[(OTHER,) * dimensions] = other
            notes.append(f"imported data: {folded} groups smaller than {k} are shown as (other)")
        else:
            notes.append(
                f"imported data: {folded} groups smaller than {k} are left out: even together "
                f"they are fewer than {k} visitors"
            )
    return kept, notes
