"""A site's data out as Plausible's CSV export: one file per report, zipped, streamed.

Every number comes from the query engine of /v1/query (`answer_query`), asked one local
day at a time, so an export says what a query would, under the same k: reports by a
quasi-identifier (sources, locations, devices, browsers, operating systems) fold each
day's groups under k into "(other)" or leave them out, as a breakdown does; visitors,
pages, entry and exit pages and custom events are the site's own and complete. Bounces and
visit durations are the engine's too: its unrounded bounce rate and visit duration of each
row times the row's visits, so an export imported again answers the same rates.

The zip is written as it is made, into chunks of a job's file (`sink`), so memory holds
one day's rows of one report at most.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.days import day_bounds, site_timezone
from services.api.engagement.service import answering_definition
from services.api.stats.query import EXACT, answer_query
from services.api.stats.schemas import MISSING, Include, Metric, QueryIn
from services.api.transfer.reports import REPORTS, Report
from shared.dialect import local_time_bucket
from shared.models import events, sites

# Report -> the engine's dimensions it breaks down by.
BREAKDOWNS: dict[str, tuple[str, ...]] = {
    "imported_visitors": (),
    "imported_sources": ("source", "referrer", "utm_source", "utm_medium", "utm_campaign"),
    "imported_pages": ("page",),
    "imported_entry_pages": ("entry_page",),
    "imported_exit_pages": ("exit_page",),
    "imported_locations": ("country", "region"),
    "imported_devices": ("device",),
    "imported_browsers": ("browser",),
    "imported_operating_systems": ("os",),
}
# What each report's rows ask of the engine: counts, and where the report keeps bounces and
# durations, the rates they are made of (Plausible keeps neither per page).
COUNTED = [Metric.visitors, Metric.sessions, Metric.pageviews]
RATED = [*COUNTED, Metric.bounce_rate, Metric.visit_duration]
# Report column <- engine dimension, where the names differ.
COLUMN_OF = {"os": "operating_system"}
COUNT_OF = {"imported_entry_pages": "entrances", "imported_exit_pages": "exits"}
# Overt's built-in events that Plausible's export lists among custom events, by its names.
PLAUSIBLE_EVENT_NAMES = {
    "outbound": "Outbound Link: Click",
    "download": "File Download",
    "404": "404",
}
PAGE = 1000
CHUNK_BYTES = 1024 * 1024  # the size of a stored piece of the zip

README = """Overt export of {domain}, {first} to {last} (the site's time zone, {timezone}).

One CSV file per report, with the names and columns of Plausible Analytics' CSV export, so
it can be imported into Plausible, or into another Overt site (`include.imports` in
/v1/query). One row per day and group.

k-anonymity: these are the site owner's own data, read with the site's key, and the files
by a quasi-identifier (where: imported_locations; which device: imported_devices,
imported_browsers, imported_operating_systems; where from: imported_sources) hold what
/v1/query would answer, under the site's k (here {k}): each day's groups with fewer than
k engaged visitors are folded into one "(other)" row, or left out when that row is under
k too. Visitors, pages, entry and exit pages and custom events are complete.

imported_locations is by country and region (an ISO 3166-2 code where the geography data
knows one, as Plausible's), so its groups under k are a country's regions, not countries.

Not in Overt's data, so empty or zero: pages' hostname is the site's domain, scroll_depth
is empty and pageleave_visitors 0; locations' city is 0 (Plausible's column is a GeoNames
id, and Overt keeps a city's name, not its id); browser and operating system versions are
empty; sources' utm_content and utm_term are empty.
A missing value ("(none)" in /v1/query) is an empty field.
"""


class ChunkSink(io.RawIOBase):
    """A write-only, non-seekable file for `zipfile` whose bytes are taken out in pieces."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.buffer += view
        self.position += len(view)
        return len(view)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def csv_line(values: list[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue().encode()


def shown(value: str) -> str:
    return "" if value == MISSING else value


async def engine_rows(
    *,
    engine: AsyncEngine,
    site_id: str,
    day: date,
    dimensions: tuple[str, ...],
    metrics: list[Metric],
    timeout_s: float,
) -> list[tuple[list[str], list[int | float | None]]]:
    """One day's rows of the query engine for a report (every page of them), rates
    unrounded."""
    rows: list[tuple[list[str], list[int | float | None]]] = []
    offset = 0
    while True:
        # Built unchecked: an export may break down by more dimensions than a caller may ask
        # for (the sources report), and its values are made here, not sent.
        query = QueryIn.model_construct(
            site_id=site_id,
            metrics=metrics,
            date_range=(day, day),
            dimensions=list(dimensions),
            filters=None,
            order_by=[],
            limit=PAGE,
            offset=offset,
            definition_version=None,
            comparisons=None,
            include=Include(),
        )
        token = EXACT.set(True)
        try:
            answer = await answer_query(engine=engine, query=query, timeout_s=timeout_s)
        finally:
            EXACT.reset(token)
        rows += [(row.dimensions, row.metrics) for row in answer.results]
        offset += PAGE
        if offset >= answer.meta.total_rows:
            return rows


async def custom_event_rows(
    *, engine: AsyncEngine, site_id: str, timezone: str, first: date, last: date
) -> AsyncIterator[list[Any]]:
    """imported_custom_events: goals, and outbound links, downloads and 404s by their
    Plausible names (with the link or the path)."""
    start, end = day_bounds(first, last, timezone)
    day = local_time_bucket(engine.dialect.name, events.c.occurred_at, "day", timezone)
    # What Plausible keeps of each: a link for outbound links and downloads, a path for 404s.
    link = case(
        (events.c.name.in_(["outbound", "download"]), events.c.props["url"].as_string()),
        else_=literal(""),
    )
    path = case((events.c.name == "404", events.c.path), else_=literal(""))
    link_url = func.coalesce(link, literal("")).label("link_url")
    statement = (
        select(
            day.label("day"),
            events.c.name,
            link_url,
            path.label("path"),
            func.count(events.c.visitor_hash.distinct()).label("visitors"),
            func.count().label("events"),
        )
        .where(
            events.c.site_id == site_id,
            events.c.occurred_at >= start,
            events.c.occurred_at < end,
            events.c.name.not_in(["pageview", "engagement"]),
        )
        .group_by(day, events.c.name, link_url, path)
        .order_by(day, events.c.name)
    )
    async with engine.connect() as conn:
        result = await conn.stream(statement)
        async for row in result:
            name = PLAUSIBLE_EVENT_NAMES.get(row.name, row.name)
            yield [row.day, name, row.link_url, row.path, int(row.visitors), int(row.events)]


async def write_export(
    *,
    engine: AsyncEngine,
    site_id: str,
    first: date,
    last: date,
    timeout_s: float,
    emit: Callable[[bytes], Awaitable[None]],
    progress: Callable[[int], Awaitable[None]],
) -> None:
    """Write the zip of a site's export for [first, last] to `emit`, piece by piece;
    `progress` gets the number of rows written so far."""
    timezone = await site_timezone(engine=engine, site_id=site_id)
    definition = await answering_definition(engine=engine, site_id=site_id, version=None)
    async with engine.connect() as conn:
        domain = str(
            (await conn.execute(select(sites.c.domain).where(sites.c.id == site_id))).scalar_one()
        )
    sink = ChunkSink()
    written = 0
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
    readme = README.format(domain=domain, first=first, last=last, timezone=timezone, k=definition.k)
    archive.writestr("README.txt", readme)
    for report in REPORTS.values():
        with archive.open(report.filename(first, last), "w", force_zip64=True) as entry:
            entry.write(csv_line([column for column, _ in report.columns]))
            if report.name == "imported_custom_events":
                async for values in custom_event_rows(
                    engine=engine, site_id=site_id, timezone=timezone, first=first, last=last
                ):
                    entry.write(csv_line(values))
                    written += 1
                await progress(written)
                continue
            dimensions = BREAKDOWNS[report.name]
            metrics = COUNTED if report.name == "imported_pages" else RATED
            for day in days(first, last):
                rows = await engine_rows(
                    engine=engine,
                    site_id=site_id,
                    day=day,
                    dimensions=dimensions,
                    metrics=metrics,
                    timeout_s=timeout_s,
                )
                for values in report_lines(report, day, rows, domain=domain):
                    entry.write(csv_line(values))
                    written += 1
                if len(sink.buffer) >= CHUNK_BYTES:
                    await emit(sink.take())
                await progress(written)
    archive.close()
    await emit(sink.take())


def report_lines(
    report: Report,
    day: date,
    rows: list[tuple[list[str], list[int | float | None]]],
    *,
    domain: str,
) -> list[list[Any]]:
    """One day's lines of a report from the engine's rows: counts, and bounces and seconds
    as the row's rates times its visits."""
    dimensions = BREAKDOWNS[report.name]
    day_text = day.isoformat()
    lines = []
    for values, numbers in rows:
        visitors, visits, pageviews = (int(n or 0) for n in numbers[:3])
        if not visitors and not visits and not pageviews:
            continue
        bounce_rate, duration = [*numbers[3:], None, None][:2]
        named: dict[str, Any] = dict(
            zip((COLUMN_OF.get(d, d) for d in dimensions), map(shown, values), strict=True)
        )
        counts = {
            "visitors": visitors,
            "visits": visits,
            "pageviews": pageviews,
            "bounces": round((bounce_rate or 0) * visits / 100),
            "visit_duration": round((duration or 0) * visits),
            COUNT_OF.get(report.name, "visits"): visits,
        }
        named |= {"hostname": domain, "city": 0, "pageleave_visitors": 0}
        line: list[Any] = []
        for column, _ in report.columns:
            if column == "date":
                line.append(day_text)
            elif column in counts:
                line.append(counts[column])
            elif column == "scroll_depth":
                line.append("")
            else:
                line.append(named.get(column, ""))
        lines.append(line)
    return lines
