"""How the dashboard writes a metric's value and its change: one place for units and words."""

from __future__ import annotations

LABELS = {
    "visitors": "Unique visitors",
    "visits": "Total visits",
    "pageviews": "Total pageviews",
    "views_per_visit": "Views per visit",
    "bounce_rate": "Bounce rate",
    "engaged_time_p50": "Engaged time (median)",
    "engagement_rate": "Engagement rate",
    "events": "Events",
    "conversion_rate": "Conversion rate",
}
COLUMN_LABELS = {
    "visitors": "Visitors",
    "visits": "Visits",
    "pageviews": "Pageviews",
    "events": "Events",
    "conversion_rate": "CR",
}
# Shares: their change is a difference in points (as /v1/query's comparisons give it).
FRACTIONS = {"engagement_rate", "conversion_rate"}  # 0..1 in the answer
PERCENTS = {"bounce_rate"}  # 0..100 in the answer
NO_VALUE = "\u2013"  # en dash
MINUS = "\u2212"
# Where a fall is the good news.
LOWER_IS_BETTER = {"bounce_rate"}


def label(metric: str) -> str:
    return LABELS.get(metric, metric.replace("_", " ").capitalize())


def column_label(metric: str) -> str:
    return COLUMN_LABELS.get(metric, label(metric))


def compact(number: float) -> str:
    """1234 -> 1.2k, 2500000 -> 2.5M; small numbers as they are."""
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if abs(number) >= size:
            scaled = number / size
            text = f"{scaled:.1f}" if abs(scaled) < 100 else f"{scaled:.0f}"
            return text.removesuffix(".0") + suffix
    if isinstance(number, float) and not number.is_integer():
        return f"{number:.2f}".rstrip("0").rstrip(".")
    return str(int(number))


def duration(milliseconds: float) -> str:
    """Engaged time in words: 45s, 3m 05s, 1h 02m."""
    seconds = round(milliseconds / 1000)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def value_text(metric: str, value: int | float | None) -> str:
    """A metric's value as the dashboard writes it (a dash for no value)."""
    if value is None:
        return NO_VALUE
    if metric in FRACTIONS:
        return f"{value * 100:.1f}".removesuffix(".0") + "%"
    if metric in PERCENTS:
        return f"{value:g}%"
    if metric == "engaged_time_p50":
        return duration(value)
    if metric == "views_per_visit":
        return f"{value:.2f}"
    return compact(value)


def change_points(metric: str, change: int | float | None) -> float | None:
    """A change as the dashboard shows it: percent, or points of a percentage for shares."""
    if change is None:
        return None
    return round(change * 100, 1) if metric in FRACTIONS else change


def change_text(metric: str, change: int | float | None) -> str:
    """'+12%', '-3.5 pp' (with a minus sign; points, for shares), '' when there is nothing
    to compare."""
    shown = change_points(metric, change)
    if shown is None:
        return ""
    sign = "+" if shown > 0 else MINUS if shown < 0 else "\u00b1"
    magnitude = f"{abs(shown):g}"
    unit = " pp" if metric in FRACTIONS or metric in PERCENTS else "%"
    return f"{sign}{magnitude}{unit}"


def change_mood(metric: str, change: int | float | None) -> str:
    """good / bad / flat: how the change reads for the site (a lower bounce rate is good)."""
    if not change:
        return "flat"
    up = change > 0
    return "good" if up != (metric in LOWER_IS_BETTER) else "bad"
