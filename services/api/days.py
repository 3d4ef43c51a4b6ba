"""A site's days: its time zone, a range of its local days as UTC instants, and the range rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.models import sites

# Days a range may name: from the Unix epoch to a year short of the calendar's end, so
# every instant computed from them (a day's end in any zone, the Monday of its week, a
# bucket) is a datetime both databases store.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def check_date_range(first: date, last: date) -> None:
    """A date range is ordered, at most ten years long, within FIRST_DAY..LAST_DAY."""
    if first < FIRST_DAY or last > LAST_DAY:
        raise ValueError(f"date_range: days from {FIRST_DAY} to {LAST_DAY}")
    if last < first:
        raise ValueError("date_range: the last day is before the first")
    if (last - first).days > 3660:
        raise ValueError("date_range: at most ten years")


def day_bounds(first: date, last: date, timezone: str) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in the site's zone, as UTC instants."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(first, time.min, zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, zone).astimezone(UTC)
    return start, end


async def site_timezone(*, engine: AsyncEngine, site_id: str) -> str:
    async with engine.connect() as conn:
        zone = (
            await conn.execute(select(sites.c.timezone).where(sites.c.id == site_id))
        ).scalar_one()
    return str(zone)
