"""Daily rollups per dimension value: the dashboard's first screen without reading events.

`daily_stats` (shared/models.py says why days are recomputed, not counted up) holds, per
site, UTC day and (filter, dimension, value), the sums of the raw path's per-session
groups: visitors, visitors counting toward k, visits, pageviews, actions, engaged time,
bounces and visit durations. They are built by the raw path's own statement
(`_per_session` in query.py) grouped by day, so a day's row is what the raw path computes
for that day; days add up exactly because a visitor hash lives one UTC day. PostgreSQL
builds every slice of a run of days in one scan of the events (`scan_statement`, the same
per-session groups under GROUPING SETS), the statements per slice are its fallback.

What the daily path answers (`daily_plan`), everything else goes raw:
- metrics in DAILY_METRICS (totals, visits, bounce rate, views per visit, visit duration,
  engaged time, events, percentage);
- no dimension, a time bucket of days, or one ROLLED dimension;
- no filter, or one `is` condition with one value on a FILTERED dimension;
- a range whose local days are cut into the stored pieces (`pieces`): every site's, but for
  a rare local day around a clock change at midnight.

Sites whose local days are not UTC days (most: Europe/Berlin, America/New_York): a local
day covers parts of two UTC days, and visitor hashes, which live one UTC day, add up only
across UTC days. So a UTC day holding a local midnight is also stored in parts, one per
local day it meets (`part`, keyed by the local day: the same grouping with the event's
local day as one more key). A range of local days is then its whole UTC days plus, at each
end, the part of the UTC day inside it: pieces of different UTC days, so every sum, the
distinct visitors too, adds up exactly. A session across local midnight counts as the raw
path counts it: its events on each side form the group of that side's range (the group of
a range cut there holds only the events inside it), its session facts (bounce, duration)
whole on each side. Parts rather than hours: a range needs two parts however long it is,
and the parts cost one more grouping of each split day at build time.

Days marked dirty (`daily_dirty`: changed since they were built, today mostly) are
computed from the events for the slices asked, the other days read from the table.

k-anonymity as on the raw path: per group, the visitors counting toward k are exact sums
over days. When a group would fold into (other), the (other) row needs distinct counts
across the folded groups, which sums cannot give: such a query goes raw. The filter check
(`check_k_anonymity`) is decided from the rows where they settle it (the selected side
exactly; the left-out side when its largest value already has k, or all of them together
have fewer), and by the raw check otherwise.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    FromClause,
    SmallInteger,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import Label

from services.api.days import day_bounds, site_timezone
from services.api.engagement.schemas import Definition
from services.api.engagement.service import answering_definition
from services.api.goals.service import GoalSet, goal_set
from services.api.stats.privacy import quasi_identifiers
from services.api.stats.query import (
    Answer,
    ShapedRow,
    _number,
    _per_session,
    bounced,
    counts_toward_k,
    dimension_expression,
    facts_of_groups,
    group_sums,
    k_verdict,
    make_scope,
    reading,
    shape_rows,
    with_percentage,
)
from services.api.stats.schemas import Condition, FilterOp, Metric, QueryIn
from shared.dialect import local_time_bucket, seconds_between
from shared.models import daily_dirty, daily_stats, events, sessions
from shared.runtime import Resources
from shared.tasks import periodic

# The dashboard's panels and the filters of its first click.
ROLLED = ("source", "page", "country", "device", "browser", "os")
FILTERED = ("source", "country")
# (filter dimension, breakdown dimension) of every slice built; "" is none / the total.
SLICES: tuple[tuple[str, str], ...] = tuple(
    (f, d) for f in ("", *FILTERED) for d in ("", *ROLLED) if not f or d != f
)
DAILY_METRICS = {
    Metric.visitors,
    Metric.visits,
    Metric.sessions,
    Metric.pageviews,
    Metric.views_per_visit,
    Metric.bounce_rate,
    Metric.visit_duration,
    Metric.engaged_time_total,
    Metric.events,
    Metric.percentage,
}
TIME_UNITS = {"time:day": "day", "time:week": "week", "time:month": "month"}
SUMS = (
    "visitors",
    "counted_visitors",
    "visits",
    "pageviews",
    "actions",
    "engaged_ms",
    "bounces",
    "duration_ms",
    "durations",
)
MAX_FILTER_VALUE = 512  # daily_stats.filter_value
# A value longer than this (a page's path near its 2,048 characters, in UTF-8) would make a
# primary-key entry past PostgreSQL's btree limit: its days are left to the events.
MAX_KEY_BYTES = 2_000


# A stored piece of a UTC day: (day, part), part WHOLE for the whole day, else the part
# holding the events of local day `day + (part - WHOLE - 2)` (1, 2, 3: the day before, the
# same day, the day after).
Piece = tuple[date, int]
WHOLE = 0


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def part_of(local_day: date, day: date) -> int:
    return 2 + (local_day - day).days


def split(day: date, timezone: str) -> bool:
    """Whether a local midnight of the zone falls inside UTC day `day` (not at its start):
    the day is stored in parts too. (Offsets lie within -12 h and +14 h, so only the
    local midnights of that day and the next can.)"""
    lo, hi = utc_midnight(day), utc_midnight(day + timedelta(days=1))
    return any(lo < day_bounds(x, x, timezone)[0] < hi for x in (day, day + timedelta(days=1)))


def pieces(first: date, last: date, timezone: str) -> list[Piece] | None:
    """Local days `first`..`last` as stored pieces: the whole UTC days inside, and the part
    of each UTC day cut by the range's ends. None when a cut day meets two local days of
    the range (a day of 23 hours or less around a clock change at midnight): their parts
    would count a visitor twice."""
    start, end = day_bounds(first, last, timezone)
    out: list[Piece] = []
    day = start.date()
    while utc_midnight(day) < end:
        lo, hi = utc_midnight(day), utc_midnight(day + timedelta(days=1))
        if start <= lo and hi <= end:
            out.append((day, WHOLE))
        else:
            inside = []
            for x in (day - timedelta(days=1), day, day + timedelta(days=1)):
                local_start, local_end = day_bounds(x, x, timezone)
                if first <= x <= last and local_start < hi and local_end > lo:
                    inside.append(x)
            if len(inside) != 1:
                return None
            out.append((day, part_of(inside[0], day)))
        day += timedelta(days=1)
    return out


def bucket(day: date, unit: str) -> str:
    """A local day's time bucket, as local_time_bucket writes it."""
    if unit == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    if unit == "month":
        return day.strftime("%Y-%m")
    return day.isoformat()


def labelled_pieces(
    first: date, last: date, timezone: str, unit: str | None
) -> dict[Piece, str] | None:
    """Each piece of the range with the time bucket it counts in ("" without a unit)."""
    spans: list[tuple[str, date, date]] = []
    day = first
    while day <= last:
        label = bucket(day, unit) if unit else ""
        if spans and spans[-1][0] == label:
            spans[-1] = (label, spans[-1][1], day)
        else:
            spans.append((label, day, day))
        day += timedelta(days=1)
    out: dict[Piece, str] = {}
    for label, start, stop in spans:
        found = pieces(start, stop, timezone)
        if found is None:
            return None
        out.update(dict.fromkeys(found, label))
    return out


@dataclass(frozen=True, slots=True)
class Plan:
    """The slice a query reads: filter ("" none), its value, breakdown ("" the total), the
    time unit its rows are bucketed by (None: no time dimension), the site's zone, and the
    pieces of the range: in all (`total`, labelled "") and per time bucket (`buckets`)."""

    filter_dim: str
    filter_value: str
    dimension: str
    unit: str | None
    timezone: str
    total: dict[Piece, str]
    buckets: dict[Piece, str]


def daily_plan(query: QueryIn, timezone: str) -> Plan | None:
    """The slice that answers `query` exactly, or None (the raw path answers)."""
    if not set(query.metrics) <= DAILY_METRICS:
        return None
    dims = query.dimensions
    if len(dims) > 1:
        return None
    unit = TIME_UNITS.get(dims[0]) if dims else None
    dimension = dims[0] if dims and unit is None else ""
    if dimension and dimension not in ROLLED:
        return None
    node = query.filters
    filter_dim = filter_value = ""
    if node is not None:
        if not (
            isinstance(node, Condition)
            and node.op is FilterOp.is_
            and len(node.values) == 1
            and node.dimension in FILTERED
            and len(node.values[0]) <= MAX_FILTER_VALUE
        ):
            return None
        filter_dim, filter_value = node.dimension, node.values[0]
    total = labelled_pieces(*query.days(), timezone, None)
    buckets = labelled_pieces(*query.days(), timezone, unit) if unit else total
    if total is None or buckets is None:
        return None
    return Plan(filter_dim, filter_value, dimension, unit, timezone, total, buckets)


# --- building a day's rows from the events ----------------------------------------------------


def day_statement(
    *,
    site_id: str,
    dialect_name: str,
    goals: GoalSet,
    definition: Definition,
    first: date,
    last: date,
    filter_dim: str,
    filter_value: str | None,
    dimension: str,
    zone: str | None,
) -> Any:
    """The raw path's per-session groups of the days `first`..`last`, summed per (filter
    value, dimension value, UTC day), and with a `zone` per local day of it too (the
    parts). `filter_value` None: every value of `filter_dim` (building), else only that one
    (a dirty day of one query)."""
    dims = [d for d in (filter_dim if filter_value is None else "", dimension) if d]
    body: dict[str, Any] = {
        "site_id": site_id,
        "metrics": ["bounce_rate"],
        "dimensions": [*dims, "time:day"],
        "date_range": [first.isoformat(), last.isoformat()],
    }
    if filter_dim and filter_value is not None:
        body["filters"] = {"dimension": filter_dim, "op": "is", "values": [filter_value]}
    query = QueryIn.model_validate(body)
    scope = make_scope(query=query, timezone="UTC", dialect_name=dialect_name, goals=goals)
    local: list[ColumnElement[Any]] = []
    if zone is not None:
        local.append(local_time_bucket(dialect_name, events.c.occurred_at, "day", zone))
    rows = _per_session(scope, definition, {Metric.bounce_rate}, folds=True, keys=local).subquery(
        "groups"
    )
    keys = [rows.c[f"d{i}"] for i in range(len(dims) + 1 + len(local))]
    return select(*keys, *sums_of_groups(rows)).group_by(*keys)


def sums_of_groups(rows: FromClause) -> list[Label[Any]]:
    """A row's SUMS from its per-session groups (`_per_session`'s, with session facts)."""
    g = rows.c
    return [
        func.count(g.visitor_hash.distinct()).label("visitors"),
        func.count(g.counted_visitor.distinct()).label("counted_visitors"),
        func.count(g.session_id).label("visits"),
        func.coalesce(func.sum(g.pageviews), 0).label("pageviews"),
        func.coalesce(func.sum(g.actions), 0).label("actions"),
        func.coalesce(func.sum(g.engaged_ms), 0).label("engaged_ms"),
        func.coalesce(func.sum(g.bounced), 0).label("bounces"),
        func.coalesce(func.sum(func.round(g.duration_s * 1000)), 0).label("duration_ms"),
        func.count(g.duration_s).label("durations"),
    ]


# A slice (f, d) groups by its dimensions {f, d} (the filter's become filter_value): (f, "")
# and ("", f) group alike, as do (f, d) and (d, f). The build computes each grouping once.
GROUPINGS: dict[frozenset[str], list[tuple[str, str]]] = defaultdict(list)
for _slice in SLICES:
    GROUPINGS[frozenset(_slice) - {""}].append(_slice)
# The rolled dimensions that are a visitor's (where from, which device) or its session's
# (source): one value per session and visitor hash, but for rare sessions (`scan_slices`).
SESSION_FIXED = tuple(d for d in ROLLED if d != "page")


def scan_statement(
    *, site_id: str, goals: GoalSet, first: date, last: date, zone: str | None
) -> Any:
    """Every slice's rows of the days `first`..`last` (with a `zone`, per local day too: the
    parts) in one scan of the events, PostgreSQL's GROUPING SETS.

    `fine`: the events grouped per (day, session, visitor hash, every rolled dimension's
    value); `visits`: those grouped per (day, session, visitor hash), each session's value
    of the SESSION_FIXED dimensions beside it. A session keeps one value of each there (the
    visitor hash is made from the IP and the User-Agent they come from; the source is
    copied from the session): then the raw path's per-session groups of a slice without
    page are the `visits` rows, those of a slice with page the `fine` rows, and every
    slice is one grouping set over them. A session with two values of one (a count in the
    `mixed` column) breaks that: the caller computes the days slice by slice instead."""
    dialect = "postgresql"
    query = QueryIn.model_validate(
        {
            "site_id": site_id,
            "metrics": ["visitors"],
            "date_range": [first.isoformat(), last.isoformat()],
        }
    )
    scope = make_scope(query=query, timezone="UTC", dialect_name=dialect, goals=goals)
    times = [local_time_bucket(dialect, events.c.occurred_at, "day", "UTC").label("day")]
    if zone is not None:
        times.append(local_time_bucket(dialect, events.c.occurred_at, "day", zone).label("local"))
    values = [
        dimension_expression(d, dialect_name=dialect, timezone="UTC").label(d) for d in ROLLED
    ]
    group = [events.c.session_id, events.c.visitor_hash]
    fine = (
        select(*times, *group, *values, *group_sums())
        .where(*scope.conditions())
        .group_by(*times, *group, *values)
        .cte("fine")
    )
    f = fine.c
    keys = [f[t.name] for t in times]
    visits = (
        select(
            *keys,
            f.session_id,
            f.visitor_hash,
            *(func.min(f[d]).label(d) for d in SESSION_FIXED),
            *(func.sum(f[n]).label(n) for n in ("pageviews", "engaged_ms", "actions")),
            or_(*(func.min(f[d]) != func.max(f[d]) for d in SESSION_FIXED)).label("mixed"),
        )
        .group_by(*keys, f.session_id, f.visitor_hash)
        .cte("visits")
    )

    def groupings(source: FromClause, name: str, page: bool) -> Any:
        facts = sessions.alias(f"{name}_facts")
        rows = (
            select(
                source,
                case((counts_toward_k(facts), source.c.visitor_hash)).label("counted_visitor"),
                bounced(facts).label("bounced"),
                seconds_between(dialect, facts.c.started_at, facts.c.last_seen_at).label(
                    "duration_s"
                ),
            )
            .select_from(
                source.outerjoin(facts, facts_of_groups(facts, source.c.session_id, scope))
            )
            .subquery(name)
        )
        g = rows.c
        row_keys = [g[t.name] for t in times]
        sets = [
            tuple_(*row_keys, *(g[d] for d in ROLLED if d in grouping))
            for grouping in GROUPINGS
            if ("page" in grouping) == page
        ]
        grouped = set().union(*GROUPINGS) - ({"device", "browser", "os"} if page else {"page"})
        mixed = literal(0) if page else func.sum(case((g.mixed, 1), else_=0))
        return select(
            *row_keys,
            *(g[d] if d in grouped else null().cast(String).label(d) for d in ROLLED),
            *sums_of_groups(rows),
            mixed.label("mixed"),
        ).group_by(func.grouping_sets(*sets))

    return union_all(groupings(visits, "by_visit", False), groupings(fine, "by_page", True))


async def scan_slices(
    conn: AsyncConnection,
    *,
    site_id: str,
    goals: GoalSet,
    first: date,
    last: date,
    zone: str | None,
) -> list[tuple[str, str, DayRow]] | None:
    """`scan_statement`'s rows as (filter dimension, dimension, row) of each slice, or None
    when a session of these days is mixed."""
    statement = scan_statement(site_id=site_id, goals=goals, first=first, last=last, zone=zone)
    out = []
    for row in (await conn.execute(statement)).mappings():
        if row["mixed"]:
            return None
        day = date.fromisoformat(row["day"])
        part = part_of(date.fromisoformat(row["local"]), day) if zone else WHOLE
        sums = tuple(int(row[n]) for n in SUMS)
        # Every value is text, "(none)" when missing: NULL is a dimension not grouped by.
        grouping = frozenset(d for d in ROLLED if row[d] is not None)
        for filter_dim, dimension in GROUPINGS[grouping]:
            fvalue = row[filter_dim] if filter_dim else ""
            value = row[dimension] if dimension else ""
            out.append((filter_dim, dimension, DayRow(fvalue, day, part, value, sums)))
    return out


@dataclass(frozen=True, slots=True)
class DayRow:
    filter_value: str
    day: date
    part: int
    value: str
    sums: tuple[int, ...]  # in SUMS order


async def compute_rows(
    conn: AsyncConnection,
    *,
    site_id: str,
    goals: GoalSet,
    definition: Definition,
    first: date,
    last: date,
    filter_dim: str,
    filter_value: str | None,
    dimension: str,
    zone: str | None = None,
) -> list[DayRow]:
    """The rows of the days `first`..`last` (whole UTC days; with a `zone` their parts)."""
    statement = day_statement(
        site_id=site_id,
        dialect_name=conn.dialect.name,
        goals=goals,
        definition=definition,
        first=first,
        last=last,
        filter_dim=filter_dim,
        filter_value=filter_value,
        dimension=dimension,
        zone=zone,
    )
    out = []
    grouped_filter = bool(filter_dim) and filter_value is None
    for row in (await conn.execute(statement)).all():
        values = list(row)
        fvalue = str(values.pop(0)) if grouped_filter else (filter_value or "")
        value = str(values.pop(0)) if dimension else ""
        day = date.fromisoformat(str(values.pop(0)))
        part = part_of(date.fromisoformat(str(values.pop(0))), day) if zone else WHOLE
        out.append(DayRow(fvalue, day, part, value, tuple(int(v) for v in values)))
    return out


MAX_RUN = 7


def runs(days: Iterable[date], longest: int = 3660) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) ranges of at most `longest` days."""
    out: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if out and out[-1][1] + timedelta(days=1) == day and (day - out[-1][0]).days < longest:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


async def build_rows(
    conn: AsyncConnection,
    *,
    site_id: str,
    goals: GoalSet,
    definition: Definition,
    first: date,
    last: date,
    zone: str | None,
) -> list[tuple[str, str, DayRow]]:
    """Every slice's rows of the days, as (filter dimension, dimension, row): one scan of
    the events on PostgreSQL (`scan_slices`) unless a session is mixed; else, and on
    SQLite, one statement per slice."""
    if conn.dialect.name == "postgresql":
        scanned = await scan_slices(
            conn, site_id=site_id, goals=goals, first=first, last=last, zone=zone
        )
        if scanned is not None:
            return scanned
    return await slice_rows(
        conn,
        site_id=site_id,
        goals=goals,
        definition=definition,
        first=first,
        last=last,
        zone=zone,
    )


async def slice_rows(
    conn: AsyncConnection,
    *,
    site_id: str,
    goals: GoalSet,
    definition: Definition,
    first: date,
    last: date,
    zone: str | None,
) -> list[tuple[str, str, DayRow]]:
    """Every slice's rows of the days, one statement per slice: what the one scan must equal."""
    out = []
    for filter_dim, dimension in SLICES:
        for row in await compute_rows(
            conn,
            site_id=site_id,
            goals=goals,
            definition=definition,
            first=first,
            last=last,
            filter_dim=filter_dim,
            filter_value=None,
            dimension=dimension,
            zone=zone,
        ):
            out.append((filter_dim, dimension, row))
    return out


async def refresh_daily(engine: AsyncEngine, *, include_today: bool = False) -> int:
    """Rebuild the dirty days (before today, unless `include_today`); returns how many.

    A day's mark is cleared only if its generation is the one read before the rebuild: a
    batch that touched the day meanwhile, or a fold of the session log that changed its
    sessions' facts (session_log.py), leaves it dirty. Runs of consecutive days are rebuilt
    at most MAX_RUN days at a time (one transaction each); the days a local midnight
    splits get their parts too."""
    today = datetime.now(UTC).date()
    async with engine.connect() as conn:
        marks = (
            await conn.execute(
                select(daily_dirty.c.site_id, daily_dirty.c.day, daily_dirty.c.generation)
            )
        ).all()
    by_site: dict[str, dict[date, int]] = defaultdict(dict)
    for site_id, day, generation in marks:
        if include_today or day < today:
            by_site[site_id][day] = int(generation)
    done = 0
    for site_id, generations in sorted(by_site.items()):
        goals = await goal_set(engine=engine, site_id=site_id)
        definition = await answering_definition(engine=engine, site_id=site_id, version=None)
        timezone = await site_timezone(engine=engine, site_id=site_id)
        for first, last in runs(generations, MAX_RUN):
            built: list[dict[str, Any]] = []
            cut = {d for d in generations if first <= d <= last and split(d, timezone)}
            async with engine.connect() as conn:
                if conn.dialect.name == "postgresql":  # the sorts of a day's groups in memory
                    await conn.execute(text("SET LOCAL work_mem = '64MB'"))
                for zone in [None, timezone] if cut else [None]:
                    for filter_dim, dimension, row in await build_rows(
                        conn,
                        site_id=site_id,
                        goals=goals,
                        definition=definition,
                        first=first,
                        last=last,
                        zone=zone,
                    ):
                        if len(row.filter_value) > MAX_FILTER_VALUE:
                            continue  # never asked through the daily path (daily_plan)
                        if row.part != WHOLE and row.day not in cut:
                            continue  # the whole day is this part: never asked
                        built.append(
                            {
                                "site_id": site_id,
                                "filter_dim": filter_dim,
                                "filter_value": row.filter_value,
                                "dimension": dimension,
                                "day": row.day,
                                "part": row.part,
                                "value": row.value,
                                **dict(zip(SUMS, row.sums, strict=True)),
                            }
                        )
            if any(len(row["value"].encode()) > MAX_KEY_BYTES for row in built):
                continue  # beyond what the primary key indexes: these days stay raw
            days = [d for d in generations if first <= d <= last]
            async with engine.begin() as conn:
                await conn.execute(
                    delete(daily_stats).where(
                        daily_stats.c.site_id == site_id,
                        daily_stats.c.day >= first,
                        daily_stats.c.day <= last,
                    )
                )
                for start in range(0, len(built), 5_000):
                    await conn.execute(insert(daily_stats), built[start : start + 5_000])
                await conn.execute(
                    delete(daily_dirty).where(
                        daily_dirty.c.site_id == site_id,
                        tuple_(daily_dirty.c.day, daily_dirty.c.generation).in_(
                            [(d, generations[d]) for d in days]
                        ),
                    )
                )
            done += len(days)
    return done


REFRESH_S = 60.0


async def run_daily_refresh(resources: Resources, stop: asyncio.Event) -> None:
    """The API's background rebuild of dirty days before today (today changes all day: it
    is read from the events until it is over). Several API processes may run it at once:
    one's rebuild of a day conflicts with the other's, fails, and is retried a minute
    later; the marks keep every answer exact meanwhile."""

    async def one_pass() -> None:
        await refresh_daily(resources.engine)

    await periodic(stop, interval=REFRESH_S, one_pass=one_pass, name="daily rollups")


# --- answering from them -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ask:
    """A slice's sums a query needs: per value (`by` "value"), per time bucket ("label") or
    in all (None), over the pieces `labels` names (each with its bucket's label)."""

    filter_dim: str
    filter_value: str
    dimension: str
    by: str | None
    labels: tuple[tuple[Piece, str], ...]


# The columns of `slice_sums`'s statement, made once (expressions are immutable).
STORED_SUMS = [func.sum(daily_stats.c[n]).label(n) for n in SUMS]
NO_VALUE = null().cast(String).label("value")
NO_DAY = null().cast(Date).label("day")
NO_PART = null().cast(SmallInteger).label("part")
NO_SUMS = [null().cast(BigInteger).label(n) for n in SUMS]
IS_DIRTY = (
    select(daily_dirty.c.day)
    .where(daily_dirty.c.site_id == daily_stats.c.site_id, daily_dirty.c.day == daily_stats.c.day)
    .exists()
)


def stored_sums(tag: int, ask: Ask, site_id: str) -> Any:
    """An ask's sums over its clean pieces, as stored, tagged for `slice_sums`."""
    t = daily_stats
    pieces = [piece for piece, _ in ask.labels]
    chosen: list[ColumnElement[bool]] = [
        and_(t.c.part == WHOLE, t.c.day >= start, t.c.day <= stop)
        for start, stop in runs(day for day, part in pieces if part == WHOLE)
    ]
    parts = [piece for piece in pieces if piece[1] != WHOLE]
    if parts:
        chosen.append(tuple_(t.c.day, t.c.part).in_(parts))
    keys = {"value": [t.c.value], "label": [t.c.day, t.c.part]}.get(ask.by or "", [])
    return (
        select(
            literal(tag).label("ask"),
            t.c.value if ask.by == "value" else NO_VALUE,
            t.c.day if ask.by == "label" else NO_DAY,
            t.c.part if ask.by == "label" else NO_PART,
            *STORED_SUMS,
        )
        .where(
            t.c.site_id == site_id,
            t.c.filter_dim == ask.filter_dim,
            t.c.filter_value == ask.filter_value,
            t.c.dimension == ask.dimension,
            t.c.day >= min(day for day, _ in pieces),
            t.c.day <= max(day for day, _ in pieces),
            or_(*chosen),
            ~IS_DIRTY,
        )
        .group_by(*keys)
    )


async def slice_sums(
    conn: AsyncConnection,
    *,
    site_id: str,
    timezone: str,
    asks: Sequence[Ask],
    goals: GoalSet,
    definition: Definition,
) -> list[dict[Any, list[int]]]:
    """Each ask's sums per value, per piece's label or in all (key ""): one statement reads
    the stored ones of the clean days (summed by the database) and which days are dirty;
    those are then computed from the events."""
    days = [day for ask in asks for (day, _), _ in ask.labels]
    marked = select(literal(-1).label("ask"), NO_VALUE, daily_dirty.c.day, NO_PART, *NO_SUMS).where(
        daily_dirty.c.site_id == site_id,
        daily_dirty.c.day >= min(days),
        daily_dirty.c.day <= max(days),
    )
    statement = union_all(marked, *(stored_sums(tag, ask, site_id) for tag, ask in enumerate(asks)))
    out: list[dict[Any, list[int]]] = [{} for _ in asks]

    def add(into: dict[Any, list[int]], key: Any, sums: Iterable[Any]) -> None:
        found = into.setdefault(key, [0] * len(SUMS))
        for index, value in enumerate(sums):
            found[index] += int(value)

    dirty: set[date] = set()
    for row in (await conn.execute(statement)).all():
        tag, value, day, part, *sums = row
        if tag < 0:
            dirty.add(day)
        elif sums[-1] is not None:  # an aggregate without rows (by None) is all NULL
            ask = asks[tag]
            labels = dict(ask.labels)
            key = value if ask.by == "value" else labels[(day, part)] if ask.by else ""
            add(out[tag], key, sums)
    for ask, into in zip(asks, out, strict=True):
        labels = dict(ask.labels)
        for zone in (None, timezone):
            wanted = {
                piece for piece in labels if piece[0] in dirty and (piece[1] == WHOLE) == (not zone)
            }
            for start, stop in runs(day for day, _ in wanted):
                computed = await compute_rows(
                    conn,
                    site_id=site_id,
                    goals=goals,
                    definition=definition,
                    first=start,
                    last=stop,
                    filter_dim=ask.filter_dim,
                    filter_value=ask.filter_value if ask.filter_dim else None,
                    dimension=ask.dimension,
                    zone=zone,
                )
                for day_row in computed:
                    piece = (day_row.day, day_row.part)
                    if piece in wanted:
                        key = {"value": day_row.value, "label": labels[piece]}.get(ask.by or "", "")
                        add(into, key, day_row.sums)
    return out


def metric_value(metric: Metric, sums: Sequence[int], visitors_total: int | None) -> Any:
    """A metric from a group's sums, as the raw path's SQL computes it (query.py:
    _metric_column and _plausible_metric); rates as exact decimals, rounded by _number."""
    (visitors, _, visits, pageviews, actions, engaged_ms, bounces, duration_ms, durations) = sums
    if metric in (Metric.visitors, Metric.percentage):
        value: Any = visitors
    elif metric in (Metric.visits, Metric.sessions):
        value = visits
    elif metric is Metric.pageviews:
        value = pageviews
    elif metric is Metric.events:
        value = actions
    elif metric is Metric.engaged_time_total:
        value = engaged_ms
    elif metric is Metric.views_per_visit:
        value = Decimal(pageviews) / visits if visits else None
    elif metric is Metric.bounce_rate:
        value = Decimal(bounces * 100) / visits if visits else None
    else:  # visit_duration: the mean over sessions with facts, in seconds
        value = Decimal(duration_ms) / 1000 / durations if durations else None
    return _number(metric, with_percentage(metric, value, visitors_total))


async def run_daily(
    *,
    engine: AsyncEngine,
    query: QueryIn,
    plan: Plan,
    definition: Definition,
    goals: GoalSet,
    timeout_s: float,
) -> Answer | None:
    """The answer from the daily rollups, or None when only the raw path can give it
    (a group would fold, or the filter check needs the events). Raises KAnonymityRefused
    as the raw path would. The sums it needs are read at once (`slice_sums`)."""
    k = definition.k
    total = tuple(plan.total.items())
    by = "value" if plan.dimension else "label" if plan.unit else None
    shown = tuple(plan.buckets.items()) if by == "label" else total
    guarded = quasi_identifiers([*query.dimensions, plan.filter_dim])
    checked = bool(plan.filter_dim and guarded and k > 1)
    chosen = Ask(plan.filter_dim, plan.filter_value, "", None, total)
    by_value = Ask("", "", plan.filter_dim, "value", total)
    if plan.filter_dim and plan.filter_dim == plan.dimension:
        # Broken down by its own filter: the one group, as the unfiltered slice has it.
        rows = Ask("", "", plan.dimension, by, shown)
    else:
        rows = Ask(plan.filter_dim, plan.filter_value, plan.dimension, by, shown)
    percentage = Metric.percentage in query.metrics
    asks = [*([chosen, by_value] if checked else []), rows, *([chosen] if percentage else [])]
    asks = list(dict.fromkeys(asks))
    async with reading(engine, timeout_s, filtered=False) as conn:
        sums = await slice_sums(
            conn,
            site_id=query.site_id,
            timezone=plan.timezone,
            asks=asks,
            goals=goals,
            definition=definition,
        )
    answers = dict(zip(asks, sums, strict=True))
    nothing = [0] * len(SUMS)
    if checked:
        selected = answers[chosen].get("", nothing)
        others = [
            sums
            for value, sums in answers[by_value].items()
            if value != plan.filter_value and sums[0] > 0
        ]
        counting = [sums[1] for sums in others]
        if others and max(counting) < k <= sum(counting):
            return None  # the left-out side's distinct count decides: the raw check
        k_verdict(
            selected=(selected[0], selected[1]),
            left_out=(1 if others else 0, sum(counting)),
            k=k,
        )
    found = answers[rows]
    if plan.filter_dim and plan.filter_dim == plan.dimension:
        found = {key: sums for key, sums in found.items() if key == plan.filter_value}
    visitors_total = answers[chosen].get("", nothing)[0] if percentage else None
    groups = found if by else {"": found.get("", nothing)}
    folds = bool(quasi_identifiers(query.dimensions)) and k > 1
    if folds and any(sums[1] < k for sums in groups.values()):
        return None  # (other) would need distinct counts across groups: raw
    shaped: list[ShapedRow] = [
        (
            [value] if query.dimensions else [],
            [metric_value(m, sums, visitors_total) for m in query.metrics],
            sums[0],
            sums[1],
            False,
        )
        for value, sums in groups.items()
    ]
    return shape_rows(shaped, query=query, k=k, folded_groups=0)
