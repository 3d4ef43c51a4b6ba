"""Time partitions of `events` on PostgreSQL, and retention of raw data on both backends.

Monthly partitions (`events_p202611` holds November 2026, UTC). Monthly rather than daily:
retention is counted in months (CNIL: raw audience data at most 25 months), so about 27
partitions are live at a time instead of some 760, and every query that cannot prune by
time (an event-id lookup) visits each partition's index once. A default partition catches
stragglers whose month has no partition yet; creating that month later moves them out.

Partitions are created ahead of time (this month and the next MONTHS_AHEAD) by
`ensure_partitions`, run at migration, by `overt partitions` and by every worker's
maintenance loop. It is idempotent and several processes may run it at once: a
transaction-scoped advisory lock serialises them and CREATE TABLE IF NOT EXISTS skips what
another process made.

Retention (`apply_retention`): each site keeps raw events and sessions for its
`raw_retention_months` (default 25); hourly rollups, being aggregates, stay for
`rollup_retention_months` (default: kept). PostgreSQL drops a whole partition once every
site's retention has passed its last day (no row-by-row work, no bloat) and deletes per site
only where one site keeps less than the others; SQLite deletes by date.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.models import (
    daily_dirty,
    daily_stats,
    event_ids,
    events,
    page_hourly,
    sessions,
    site_hourly,
    sites,
)
from shared.runtime import Resources
from shared.sites import SiteSettings
from shared.tasks import periodic

log = logging.getLogger("overt.partitions")

PARENT = "events"
DEFAULT_PARTITION = "events_default"
MONTHS_AHEAD = 2
# pg_advisory_xact_lock key shared by every process doing partition maintenance ("OVRTPART").
LOCK_KEY = 0x4F565254_50415254
_MONTHLY = re.compile(r"^events_p(\d{4})(\d{2})$")


def is_partition(table_name: str) -> bool:
    """Whether `table_name` is one of the partitions of `events` (the schema has no class for
    them: they come and go with time, made by `ensure_partitions`)."""
    return table_name == DEFAULT_PARTITION or _MONTHLY.match(table_name) is not None


def month_of(moment: datetime | date) -> date:
    """The first day of the (UTC) month holding `moment`."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return moment.replace(day=1)


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` shifted by whole calendar months (day clamped: 31 March - 1 month = 28/29 Feb)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _next_month(month: date) -> date:
    return add_months(datetime(month.year, month.month, 1, tzinfo=UTC), 1).date()


def partition_name(month: date) -> str:
    return f"events_p{month:%Y%m}"


def _bound(month: date) -> str:
    return f"'{month.isoformat()} 00:00:00+00'"


def partition_ddl(month: date) -> str:
    """CREATE TABLE IF NOT EXISTS for the partition of `month` (used by the migration too)."""
    return (
        f'CREATE TABLE IF NOT EXISTS "{partition_name(month)}" PARTITION OF "{PARENT}" '
        f"FOR VALUES FROM ({_bound(month)}) TO ({_bound(_next_month(month))})"
    )


def months_between(first: date, last: date) -> list[date]:
    """Every month from `first`'s to `last`'s, both included."""
    months, month = [], month_of(first)
    while month <= month_of(last):
        months.append(month)
        month = _next_month(month)
    return months


async def monthly_partitions(conn: AsyncConnection) -> dict[str, date]:
    """The monthly partitions of `events` that exist, by name, with their month."""
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": PARENT},
    )
    found: dict[str, date] = {}
    for (name,) in rows:
        if match := _MONTHLY.match(name):
            found[name] = date(int(match[1]), int(match[2]), 1)
    return found


async def _lock(conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


async def _create_partition(conn: AsyncConnection, month: date) -> None:
    """Create one month's partition, first moving its stragglers out of the default partition.

    A partition cannot be attached while the default partition holds rows of its range, so
    such rows go into a fresh table that is then attached (all in the caller's transaction).
    """
    low, high = _bound(month), _bound(_next_month(month))
    in_range = f"occurred_at >= {low} AND occurred_at < {high}"
    stragglers = (
        await conn.execute(
            text(f'SELECT EXISTS (SELECT 1 FROM "{DEFAULT_PARTITION}" WHERE {in_range})')
        )
    ).scalar_one()
    if not stragglers:
        await conn.execute(text(partition_ddl(month)))
        return
    name = partition_name(month)
    await conn.execute(text(f'CREATE TABLE "{name}" (LIKE "{PARENT}" INCLUDING DEFAULTS)'))
    await conn.execute(
        text(
            f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" WHERE {in_range} RETURNING *) '
            f'INSERT INTO "{name}" SELECT * FROM moved'
        )
    )
    await conn.execute(
        text(
            f'ALTER TABLE "{PARENT}" ATTACH PARTITION "{name}" FOR VALUES FROM ({low}) TO ({high})'
        )
    )


async def ensure_partitions(
    engine: AsyncEngine, *, now: datetime | None = None, ahead: int = MONTHS_AHEAD
) -> list[str]:
    """Create the partitions of this month and the `ahead` next ones; returns those created.

    PostgreSQL only (SQLite has no partitions: returns []). Safe to run from many processes.
    """
    if engine.dialect.name != "postgresql":
        return []
    now = now or datetime.now(UTC)
    wanted = months_between(month_of(now), month_of(add_months(now, ahead)))
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        await _lock(conn)
        existing = set((await monthly_partitions(conn)).values())
        created = []
        for month in wanted:
            if month not in existing:
                await _create_partition(conn, month)
                created.append(partition_name(month))
    if created:
        log.info("partitions created", extra={"partitions": created})
    return created


@dataclass
class RetentionReport:
    """What one retention run removed."""

    dropped_partitions: list[str] = field(default_factory=list)
    deleted_events: int = 0
    deleted_sessions: int = 0
    deleted_rollup_rows: int = 0
    deleted_event_ids: int = 0


async def _site_retention(conn: AsyncConnection) -> dict[str, SiteSettings]:
    rows = await conn.execute(select(sites.c.id, sites.c.settings))
    return {row.id: SiteSettings.model_validate(row.settings or {}) for row in rows}


async def apply_retention(engine: AsyncEngine, *, now: datetime | None = None) -> RetentionReport:
    """Remove raw data older than each site's retention (and rollups past theirs, if set)."""
    now = now or datetime.now(UTC)
    report = RetentionReport()
    postgres = engine.dialect.name == "postgresql"
    async with engine.begin() as conn:
        if postgres:
            await conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            await _lock(conn)
        retention = await _site_retention(conn)
        raw_cutoffs = {
            site_id: add_months(now, -settings.raw_retention_months)
            for site_id, settings in retention.items()
        }
        # Data older than every site's cutoff goes as a whole (the longest retention rules).
        common = min(
            raw_cutoffs.values(),
            default=add_months(now, -SiteSettings().raw_retention_months),
        )
        if postgres:
            for name, month in sorted((await monthly_partitions(conn)).items()):
                end = _next_month(month)
                if datetime(end.year, end.month, 1, tzinfo=UTC) <= common:
                    await conn.execute(text(f'DROP TABLE "{name}"'))
                    report.dropped_partitions.append(name)
        for site_id, cutoff in sorted(raw_cutoffs.items()):
            removed = await conn.execute(
                delete(events).where(events.c.site_id == site_id, events.c.occurred_at < cutoff)
            )
            report.deleted_events += int(removed.rowcount)
            removed = await conn.execute(
                delete(sessions).where(
                    sessions.c.site_id == site_id,
                    # Implied by the next condition; lets the (site_id, started_at) index
                    # narrow the scan (last_seen_at has no index: migration 0302).
                    sessions.c.started_at < cutoff,
                    sessions.c.last_seen_at < cutoff,
                )
            )
            report.deleted_sessions += int(removed.rowcount)
            months = retention[site_id].rollup_retention_months
            if months is None:
                continue
            rollup_cutoff = add_months(now, -months)
            for table in (page_hourly, site_hourly):
                removed = await conn.execute(
                    delete(table).where(table.c.site_id == site_id, table.c.hour < rollup_cutoff)
                )
                report.deleted_rollup_rows += int(removed.rowcount)
            # The daily rollups, and the marks of days to rebuild, of whole days before it.
            for daily in (daily_stats, daily_dirty):
                removed = await conn.execute(
                    delete(daily).where(
                        daily.c.site_id == site_id, daily.c.day < rollup_cutoff.date()
                    )
                )
                if daily is daily_stats:
                    report.deleted_rollup_rows += int(removed.rowcount)
        # The register of stored ids has no site column: its rows go with the longest retention.
        removed = await conn.execute(delete(event_ids).where(event_ids.c.occurred_at < common))
        report.deleted_event_ids = int(removed.rowcount)
    if report.dropped_partitions or report.deleted_events or report.deleted_sessions:
        log.info(
            "retention applied",
            extra={
                "dropped_partitions": report.dropped_partitions,
                "deleted_events": report.deleted_events,
                "deleted_sessions": report.deleted_sessions,
                "deleted_rollup_rows": report.deleted_rollup_rows,
            },
        )
    return report


async def maintain(
    engine: AsyncEngine, *, now: datetime | None = None
) -> tuple[list[str], RetentionReport]:
    """One maintenance pass: partitions ahead, then retention."""
    created = await ensure_partitions(engine, now=now)
    return created, await apply_retention(engine, now=now)


async def run_maintenance(resources: Resources, stop: asyncio.Event) -> None:
    """A background task: a maintenance pass at start, then every maintenance interval.

    A failed pass (database down, a lock not granted in time) is logged and retried at the
    next interval; partitions are made months ahead, so a missed pass costs nothing.
    """

    async def one_pass() -> None:
        await maintain(resources.engine)

    await periodic(
        stop,
        interval=resources.settings.maintenance_interval_seconds,
        one_pass=one_pass,
        name="partition maintenance",
    )
