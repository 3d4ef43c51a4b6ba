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


def _months_back(day: date, months: int) -> date:
    """The first of the month `months` before `day`'s."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _month_end(day: date) -> date:
    return _months_back(day, -1) - timedelta(days=1)


def relative_days(name: str, *, today: date, first_day: date | None) -> tuple[date, date]:
    """The days a relative range names, as Plausible's: day (today), 7d/28d/30d (ending
    today), month / 6mo / 12mo (whole calendar months ending with this one), year (this
    calendar year), all (the site's first day with data, or today, to today)."""
    if name == "day":
        return today, today
    if name.endswith("d"):
        return today - timedelta(days=int(name[:-1]) - 1), today
    if name == "month":
        return _months_back(today, 0), _month_end(today)
    if name.endswith("mo"):
        return _months_back(today, int(name[:-2]) - 1), _month_end(today)
    if name == "year":
        return date(today.year, 1, 1), date(today.year, 12, 31)
    if name == "all":
        return min(first_day or today, today), today
    raise ValueError(f"date_range: unknown relative range {name!r}")


def local_today(timezone: str, now: datetime | None = None) -> date:
    """Today in the site's time zone."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date()


def year_earlier(day: date) -> date:
    """The same day a year earlier (29 February: the 28th)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


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
