"""All of a user's sites on one screen (agencies, multi-brand teams): each site's visitors
over the period with the change, and a sparkline of its days, asked of /v1/query's engine
(one question a site: visitors by day, with the comparison; the total is a second one,
since distinct visitors do not add up across days)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.stats.query import answer_query
from services.api.stats.schemas import Comparison, Metric, QueryIn
from services.api.web.dashboard import display
from services.api.web.dashboard.service import buckets
from shared.errors import ProblemError
from shared.sites import Site

PERIOD = "30d"
PARALLEL = 4


@dataclass(frozen=True)
class SiteSummary:
    site: Site
    role: str
    visitors: int | None
    change: float | None
    daily: list[int]  # visitors each day of the period, for the sparkline
    refused: str | None = None

    @property
    def change_text(self) -> str:
        return display.change_text("visitors", self.change)

    @property
    def mood(self) -> str:
        return display.change_mood("visitors", self.change)

    @property
    def visitors_text(self) -> str:
        return display.value_text("visitors", self.visitors)


async def summarise_site(
    *, engine: AsyncEngine, site: Site, role: str, timeout_s: float
) -> SiteSummary:
    """One site's line of the roll-up."""
    compare = Comparison(mode="previous_period")
    try:
        total, by_day = await asyncio.gather(
            answer_query(
                engine=engine,
                query=QueryIn(
                    site_id=site.id,
                    metrics=[Metric.visitors],
                    date_range=PERIOD,
                    comparisons=compare,
                ),
                timeout_s=timeout_s,
            ),
            answer_query(
                engine=engine,
                query=QueryIn(
                    site_id=site.id,
                    metrics=[Metric.visitors],
                    date_range=PERIOD,
                    dimensions=["time:day"],
                    limit=100,
                ),
                timeout_s=timeout_s,
            ),
        )
    except ProblemError as refusal:
        return SiteSummary(
            site=site, role=role, visitors=None, change=None, daily=[], refused=refusal.detail
        )
    row = total.results[0] if total.results else None
    found = {r.dimensions[0]: int(r.metrics[0] or 0) for r in by_day.results}
    assert by_day.meta.date_range is not None
    daily = [found.get(day, 0) for day in buckets(by_day.meta.date_range, "day")]
    return SiteSummary(
        site=site,
        role=role,
        visitors=int(row.metrics[0] or 0) if row else 0,
        change=row.comparison.change[0] if row and row.comparison else None,
        daily=daily,
    )


async def summarise_sites(
    *, engine: AsyncEngine, sites: list[tuple[Site, str]], timeout_s: float
) -> list[SiteSummary]:
    """Every site's line, most visitors first."""
    limit = asyncio.Semaphore(PARALLEL)

    async def one(site: Site, role: str) -> SiteSummary:
        async with limit:
            return await summarise_site(engine=engine, site=site, role=role, timeout_s=timeout_s)

    found = await asyncio.gather(*(one(site, role) for site, role in sites))
    return sorted(found, key=lambda line: (-(line.visitors or 0), line.site.domain))


def sparkline(values: list[int], *, width: int = 120, height: int = 28) -> str:
    """An inline SVG polyline of `values` (the markup of a safe, fixed shape: numbers only),
    scaled to the largest; flat along the bottom when all are 0."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - (value / top) * (height - 4):.1f}"
        for i, value in enumerate(values)
    )
    return (
        f'<svg class="sparkline" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" aria-hidden="true" focusable="false">'
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/></svg>'
    )
