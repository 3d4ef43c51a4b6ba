"""Umami's data export in: `website_event` rows (one per pageview or custom event) made into
the day-by-day reports of Plausible's export, so both imports are stored and queried alike.

Columns are matched by name (Umami's export has more, and its order changed across
versions); `session_id`, `created_at`, `url_path` and `event_type` are required. A row's day
is its `created_at` (UTC in Umami) in the site's time zone. A visit is Umami's `visit_id`
(a session's id and day where the export has none); its entry and exit pages are its first
and last pageview, its length from its first to its last event, a bounce a visit of one
pageview; its source, device, browser, OS and place are its first event's. `event_type` 1
is a pageview, 2 a custom event (named by `event_name`); other types are skipped.

Memory holds one small record per visit and one set of visitors per day and group (the
aggregates must be exact): an export of millions of visits needs hundreds of MB, and
`MAX_VISITS` bounds it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from services.api.transfer.archive import CsvFile, storable_cell
from services.api.transfer.exceptions import BadUpload
from services.api.transfer.reports import SOURCE_COLUMNS, TEXT_LENGTH, TEXT_LENGTHS

REQUIRED = ("session_id", "created_at", "url_path", "event_type")
OPTIONAL = (
    "visit_id",
    "event_name",
    "hostname",
    "referrer_domain",
    "browser",
    "os",
    "device",
    "country",
    "subdivision1",
    "city",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
)
PAGEVIEW, CUSTOM_EVENT = "1", "2"
MAX_VISITS = 5_000_000
TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?"
)

# Umami's names (from its user-agent parser) as Plausible writes them.
BROWSERS = {
    "chrome": "Chrome",
    "crios": "Chrome",
    "firefox": "Firefox",
    "fxios": "Firefox",
    "safari": "Safari",
    "ios": "Safari",
    "ios-webview": "Safari",
    "edge": "Microsoft Edge",
    "edge-chromium": "Microsoft Edge",
    "edge-ios": "Microsoft Edge",
    "opera": "Opera",
    "samsung": "Samsung Browser",
    "yandexbrowser": "Yandex Browser",
    "chromium-webview": "Chrome Webview",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "brave": "Brave",
}
SYSTEMS = {
    "Mac OS": "Mac",
    "Android OS": "Android",
    "Chrome OS": "Chrome OS",
    "iOS": "iOS",
    "Linux": "GNU/Linux",
}
DEVICES = {"desktop": "Desktop", "laptop": "Desktop", "mobile": "Mobile", "tablet": "Tablet"}


def browser_name(value: str) -> str:
    return BROWSERS.get(value.lower(), value.title() if value else "")


def system_name(value: str) -> str:
    if value.startswith("Windows"):
        return "Windows"
    return SYSTEMS.get(value, value)


def device_name(value: str) -> str:
    return DEVICES.get(value.lower(), value.title() if value else "")


def source_name(referrer_domain: str, hostname: str) -> str:
    """A visit's source: the referring domain without `www.`, none for the site itself."""
    domain = referrer_domain.lower().removeprefix("www.")
    return "" if not domain or domain == hostname.lower().removeprefix("www.") else domain


def parse_timestamp(raw: str) -> datetime:
    if not TIMESTAMP.fullmatch(raw):
        raise ValueError(f"created_at: {raw[:40]!r} is not a timestamp")
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def text(column: str, raw: str) -> str:
    """`raw` cut to what `column` (a report's column) keeps; its cell was checked already."""
    return raw[: TEXT_LENGTHS.get(column, TEXT_LENGTH)]


# Reports made of visits -> the visit's attributes they group by.
VISIT_REPORTS: dict[str, tuple[str, ...]] = {
    "imported_visitors": (),
    "imported_sources": SOURCE_COLUMNS,
    "imported_devices": ("device",),
    "imported_browsers": ("browser",),
    "imported_operating_systems": ("operating_system",),
    "imported_locations": ("country", "region"),
    "imported_entry_pages": ("entry_page",),
    "imported_exit_pages": ("exit_page",),
}
SESSION_COUNTS = {"imported_entry_pages": "entrances", "imported_exit_pages": "exits"}
# Columns Umami's export has nothing for.
EMPTY: dict[str, dict[str, object]] = {
    "imported_locations": {"city": 0},
    "imported_browsers": {"browser_version": ""},
    "imported_operating_systems": {"operating_system_version": ""},
}


@dataclass(slots=True)
class Visit:
    visitor: str
    day: date
    first_at: datetime
    last_at: datetime
    entry_page: str
    exit_page: str
    pageviews: int
    attributes: dict[str, str]


@dataclass(slots=True)
class Tally:
    """The visits of one report's group on one day."""

    visitors: set[str] = field(default_factory=set)
    visits: int = 0
    seconds: int = 0
    bounces: int = 0
    pageviews: int = 0

    def add(self, visit: Visit) -> None:
        self.visitors.add(visit.visitor)
        self.visits += 1
        self.seconds += int((visit.last_at - visit.first_at).total_seconds())
        self.bounces += 1 if visit.pageviews == 1 else 0
        self.pageviews += visit.pageviews


@dataclass
class UmamiAggregate:
    """Umami events in, Plausible's reports out (`rows`)."""

    timezone: str
    visits: dict[str, Visit] = field(default_factory=dict)
    day_visitors: dict[date, set[str]] = field(default_factory=lambda: defaultdict(set))
    day_pageviews: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    pages: dict[tuple[date, str, str], tuple[set[str], set[str], list[int]]] = field(
        default_factory=dict
    )
    custom: dict[tuple[date, str, str], tuple[set[str], list[int]]] = field(default_factory=dict)
    events: int = 0
    skipped: int = 0

    def add_file(self, file: CsvFile) -> Iterator[int]:
        """Read one export file; yields each line number as it is taken (for progress)."""
        header = file.header
        if len(set(header)) != len(header):
            raise BadUpload(f"{file.name}: a column is named twice in the header")
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise BadUpload(f"{file.name}: the header lacks {', '.join(missing)}")
        positions = {c: header.index(c) for c in (*REQUIRED, *OPTIONAL) if c in header}
        zone = ZoneInfo(self.timezone)
        for line, fields in file.rows:
            if len(fields) != len(header):
                raise BadUpload(
                    f"{file.name} line {line}: {len(fields)} fields, the header has {len(header)}"
                )
            try:
                # Every cell read, named as the file names it, before any is used.
                values = {c: storable_cell(c, fields[p].strip()) for c, p in positions.items()}
                self._add(values, zone)
            except ValueError as exc:
                raise BadUpload(f"{file.name} line {line}: {exc}") from None
            yield line

    def _add(self, values: dict[str, str], zone: ZoneInfo) -> None:
        kind = values["event_type"]
        if kind not in (PAGEVIEW, CUSTOM_EVENT):
            self.skipped += 1
            return
        at = parse_timestamp(values["created_at"])
        day = at.astimezone(zone).date()
        visitor = text("session_id", values["session_id"])
        if not visitor:
            raise ValueError("session_id: empty")
        page = text("page", values["url_path"]) or "/"
        hostname = text("hostname", values.get("hostname", ""))
        visit_key = values.get("visit_id") or f"{visitor}/{day}"
        visit = self.visits.get(visit_key)
        if visit is None:
            if len(self.visits) >= MAX_VISITS:
                raise ValueError(f"more than {MAX_VISITS} visits in one import: split the export")
            visit = self.visits[visit_key] = Visit(
                visitor, day, at, at, page, page, 0, self._attributes(values, hostname)
            )
        visit.first_at, visit.last_at = min(visit.first_at, at), max(visit.last_at, at)
        self.events += 1
        self.day_visitors[day].add(visitor)
        if kind == PAGEVIEW:
            if at <= visit.first_at:
                visit.entry_page = page
            if at >= visit.last_at:
                visit.exit_page = page
            visit.pageviews += 1
            self.day_pageviews[day] += 1
            visitors, visits, pageviews = self.pages.setdefault(
                (day, hostname, page), (set(), set(), [0])
            )
            visitors.add(visitor)
            visits.add(visit_key)
            pageviews[0] += 1
        else:
            name = text("name", values.get("event_name", ""))
            if not name:
                raise ValueError("event_name: a custom event (event_type 2) needs a name")
            event_visitors, count = self.custom.setdefault((day, name, page), (set(), [0]))
            event_visitors.add(visitor)
            count[0] += 1

    @staticmethod
    def _attributes(values: dict[str, str], hostname: str) -> dict[str, str]:
        return {
            "source": text("source", source_name(values.get("referrer_domain", ""), hostname)),
            "referrer": text("referrer", values.get("referrer_domain", "")),
            **{
                utm: text(utm, values.get(utm, ""))
                for utm in ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
            },
            "device": device_name(text("device", values.get("device", ""))),
            "browser": browser_name(text("browser", values.get("browser", ""))),
            "operating_system": system_name(text("operating_system", values.get("os", ""))),
            "country": text("country", values.get("country", "").upper()),
            "region": text("region", values.get("subdivision1", "")),
        }

    def rows(self) -> Iterator[tuple[str, dict[str, object]]]:
        """(report, row) for every report Umami's events can fill."""
        tallies: dict[tuple[str, date, tuple[str, ...]], Tally] = {}
        for visit in self.visits.values():
            attributes = {
                **visit.attributes,
                "entry_page": visit.entry_page,
                "exit_page": visit.exit_page,
            }
            for report, columns in VISIT_REPORTS.items():
                if report in SESSION_COUNTS and not visit.pageviews:
                    continue  # a visit of custom events only has no entry or exit page
                key = (report, visit.day, tuple(attributes[c] for c in columns))
                tallies.setdefault(key, Tally()).add(visit)
        for (report, day, values), tally in sorted(tallies.items(), key=lambda item: item[0]):
            row: dict[str, object] = {
                "date": day,
                **dict(zip(VISIT_REPORTS[report], values, strict=True)),
                **EMPTY.get(report, {}),
                "visitors": len(tally.visitors),
                "pageviews": tally.pageviews,
                SESSION_COUNTS.get(report, "visits"): tally.visits,
                "visit_duration": tally.seconds,
                "bounces": tally.bounces,
            }
            if report == "imported_visitors":  # every visitor and pageview of the day
                row |= {
                    "visitors": len(self.day_visitors[day]),
                    "pageviews": self.day_pageviews[day],
                }
            yield report, row
        for (day, hostname, page), (visitors, visits, pageviews) in sorted(self.pages.items()):
            yield (
                "imported_pages",
                {
                    "date": day,
                    "hostname": hostname,
                    "page": page,
                    "visits": len(visits),
                    "visitors": len(visitors),
                    "pageviews": pageviews[0],
                    "scroll_depth": None,
                    "pageleave_visitors": 0,
                },
            )
        for (day, name, path), (visitors, count) in sorted(self.custom.items()):
            yield (
                "imported_custom_events",
                {
                    "date": day,
                    "name": name,
                    "link_url": "",
                    "path": path,
                    "visitors": len(visitors),
                    "events": count[0],
                },
            )
