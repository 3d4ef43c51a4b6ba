"""Comparisons: which days a query's answer is compared with, and each row's values there.

As Plausible's Stats API v2 (`include.comparisons`), each row of the answer carries the
same row in the other period (`comparison`: its dimensions, its metrics and the change).
Rows are matched on their dimensions; a time dimension is matched by its bucket's place in
its period (the third day of this week with the third day of the last), so a series lines
up with the one before it. A row missing from the other period compares with nothing:
counts read 0 there, rates and averages null.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from services.api.days import FIRST_DAY, year_earlier
from services.api.stats.schemas import Comparison, Metric, QueryRow, RowComparison

# Differences in points, not a change in percent: the metrics that are already shares.
POINTS = {
    Metric.bounce_rate: 1,
    Metric.percentage: 1,
    Metric.engagement_rate: 4,
    Metric.conversion_rate: 4,
}
# Read as 0 for a row the other period does not have (a count of nothing).
COUNTS = {
    Metric.visitors,
    Metric.sessions,
    Metric.visits,
    Metric.pageviews,
    Metric.events,
    Metric.engaged_sessions,
    Metric.engaged_time_total,
    Metric.conversions,
    Metric.returning_visitors,
}


def comparison_days(days: tuple[date, date], comparison: Comparison) -> tuple[date, date]:
    """The days to compare `days` with: the same number of days just before, the same days
    a year earlier, or the custom range (never before FIRST_DAY)."""
    first, last = days
    if comparison.mode == "custom":
        assert comparison.date_range is not None
        return comparison.date_range
    if comparison.mode == "year_over_year":
        return max(year_earlier(first), FIRST_DAY), max(year_earlier(last), FIRST_DAY)
    length = last - first + timedelta(days=1)
    return max(first - length, FIRST_DAY), max(last - length, FIRST_DAY)


def bucket_index(label: str, unit: str, first: date) -> int:
    """A time bucket's place in a period starting on `first` (0 for its first bucket)."""
    if unit == "hour":
        moment = datetime.strptime(label, "%Y-%m-%dT%H:%M")
        return int((moment - datetime.combine(first, datetime.min.time())).total_seconds()) // 3600
    if unit == "month":
        year, month = (int(part) for part in label.split("-"))
        return (year * 12 + month) - (first.year * 12 + first.month)
    day = date.fromisoformat(label)
    if unit == "week":
        return (day - (first - timedelta(days=first.weekday()))).days // 7
    return (day - first).days


def change(metric: Metric, current: int | float | None, before: int | float | None) -> float | None:
    """Plausible's change: percent (rounded; 100 from nothing to something), or points for
    the metrics that are shares (POINTS)."""
    if current is None or before is None:
        return None
    if metric in POINTS:
        return round(current - before, POINTS[metric])
    if before == 0:
        return 100 if current > 0 else 0
    return round((current - before) * 100 / before)


def row_key(dimensions: Sequence[str], names: Sequence[str], first: date) -> tuple[str | int, ...]:
    """How a row is matched across periods: its dimensions, time buckets by their place."""
    return tuple(
        bucket_index(value, name.split(":", 1)[1], first) if name.startswith("time:") else value
        for value, name in zip(dimensions, names, strict=True)
    )


def attach_comparisons(
    rows: list[QueryRow],
    others: list[QueryRow],
    *,
    dimensions: Sequence[str],
    metrics: Sequence[Metric],
    days: tuple[date, date],
    other_days: tuple[date, date],
) -> list[QueryRow]:
    """`rows` with each one's `comparison` from `others` (the other period's rows)."""
    found = {row_key(row.dimensions, dimensions, other_days[0]): row for row in others}
    empty: list[int | float | None] = [0 if m in COUNTS else None for m in metrics]
    attached = []
    for row in rows:
        other = found.get(row_key(row.dimensions, dimensions, days[0]))
        values = other.metrics if other is not None else empty
        attached.append(
            row.model_copy(
                update={
                    "comparison": RowComparison(
                        dimensions=other.dimensions if other is not None else row.dimensions,
                        metrics=list(values),
                        change=[
                            change(m, now, then)
                            for m, now, then in zip(metrics, row.metrics, values, strict=True)
                        ],
                    )
                }
            )
        )
    return attached
