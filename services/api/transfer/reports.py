"""Plausible's CSV export, file by file: the one description of its ten reports.

Each report is a file `imported_<report>_<YYYYMMDD>_<YYYYMMDD>.csv` (Plausible also accepts the
name without `imported_`), one row per day and group. The names and columns are Plausible's
(`Plausible.Imported.CSVImporter`); the column order is theirs too, though readers match
columns by name. Counts per row: `visitors` distinct visitors that day, `visits` sessions,
`visit_duration` the sessions' total length in seconds, `bounces` sessions of one pageview,
`entrances` / `exits` sessions that began / ended on the page, `events` custom events.

Overt keeps an import's rows in a table per report (`imported_<report>`), the same columns
plus the site, the import and the row's line in its file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Kind(StrEnum):
    day = "date"
    text = "text"
    number = "number"
    optional_count = "optional_count"  # Plausible's Nullable(UInt64): empty means unknown
    code = "code"  # a group given by a number (a city's GeoNames id; 0: unknown)


# Longest text a report column keeps (a page path, a referrer, a UTM value...).
TEXT_LENGTHS = {"page": 2048, "entry_page": 2048, "exit_page": 2048, "referrer": 2048}
TEXT_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Report:
    name: str  # the table, e.g. "imported_pages"
    columns: tuple[tuple[str, Kind], ...]  # every column, in Plausible's order

    @property
    def groups(self) -> tuple[str, ...]:
        """The text columns a row is a group of (besides its day)."""
        return tuple(name for name, kind in self.columns if kind in (Kind.text, Kind.code))

    @property
    def counts(self) -> tuple[str, ...]:
        return tuple(
            name for name, kind in self.columns if kind in (Kind.number, Kind.optional_count)
        )

    def filename(self, first: date, last: date) -> str:
        return f"{self.name}_{first:%Y%m%d}_{last:%Y%m%d}.csv"


def _report(name: str, spec: str) -> Report:
    kinds = {"d": Kind.day, "s": Kind.text, "n": Kind.number, "o": Kind.optional_count}
    kinds["g"] = Kind.code
    columns = tuple((column, kinds[kind]) for column, kind in (p.split(":") for p in spec.split()))
    return Report(name, columns)


STATS = "visitors:n visits:n visit_duration:n bounces:n pageviews:n"
REPORTS: dict[str, Report] = {
    report.name: report
    for report in (
        _report(
            "imported_visitors", "date:d visitors:n pageviews:n bounces:n visits:n visit_duration:n"
        ),
        _report(
            "imported_sources",
            "date:d source:s referrer:s utm_source:s utm_medium:s utm_campaign:s utm_content:s "
            "utm_term:s pageviews:n visitors:n visits:n visit_duration:n bounces:n",
        ),
        _report(
            "imported_pages",
            "date:d hostname:s page:s visits:n visitors:n pageviews:n scroll_depth:o "
            "pageleave_visitors:n",
        ),
        _report(
            "imported_entry_pages",
            "date:d entry_page:s visitors:n entrances:n visit_duration:n bounces:n pageviews:n",
        ),
        _report(
            "imported_exit_pages",
            "date:d exit_page:s visitors:n visit_duration:n exits:n bounces:n pageviews:n",
        ),
        _report("imported_custom_events", "date:d name:s link_url:s path:s visitors:n events:n"),
        _report("imported_locations", f"date:d country:s region:s city:g {STATS}"),
        _report("imported_devices", f"date:d device:s {STATS}"),
        _report("imported_browsers", f"date:d browser:s browser_version:s {STATS}"),
        _report(
            "imported_operating_systems",
            f"date:d operating_system:s operating_system_version:s {STATS}",
        ),
    )
}

# The columns of imported_sources that group its rows (a session's attribution).
SOURCE_COLUMNS = (
    "source",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
)

FILENAME = re.compile(r"^(?:imported_)?([a-z_]+?)_(\d{8})_(\d{8})\.csv$")


def report_of_filename(filename: str) -> tuple[Report, date, date] | None:
    """The report a file name names and its first and last day (None: not a report's name)."""
    match = FILENAME.fullmatch(filename)
    if match is None:
        return None
    report = REPORTS.get(f"imported_{match.group(1)}")
    if report is None:
        return None
    try:
        first = date(int(match[2][:4]), int(match[2][4:6]), int(match[2][6:]))
        last = date(int(match[3][:4]), int(match[3][4:6]), int(match[3][6:]))
    except ValueError:
        return None
    return report, first, last
