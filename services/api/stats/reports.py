"""Reports on the query engine: after the click, funnels, retention cohorts.

k-anonymity applies where privacy.py says a person can be singled out: after the click
is a breakdown by source or campaign, so its rows under k fold into (other) as a query's
do; funnel steps (pages, goals) and retention cohorts (weeks) single no one out and are
answered whole. Reports that take filters take the filter tree of POST /v1/query under the
same refusals: filters on a quasi-identifier that select, or leave out, the events of fewer
than k visitors are a 422 (k-anonymity).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.days import day_bounds, site_timezone
from services.api.engagement.service import answering_definition
from services.api.goals.service import GoalSet, goal_set
from services.api.stats.query import answer_query, check_k_anonymity, make_scope, reading
from services.api.stats.schemas import (
    AfterTheClickIn,
    AfterTheClickOut,
    AfterTheClickRow,
    Cohort,
    FunnelIn,
    FunnelOut,
    FunnelStep,
    FunnelStepOut,
    Metric,
    QueryIn,
    RetentionIn,
    RetentionOut,
)
from services.api.stats.segments import with_segments
from shared.dialect import local_time_bucket
from shared.models import events, sessions

# --- after the click -----------------------------------------------------------------------

AFTER_THE_CLICK_METRICS = [
    Metric.visitors,
    Metric.sessions,
    Metric.engagement_rate,
    Metric.engaged_time_p50,
    Metric.engaged_time_total,
    Metric.conversions,
    Metric.group_conversion_rate,
    Metric.returning_visitors,
]
# The report's `conversion_rate` is each source's own: the query's group_conversion_rate.
AFTER_THE_CLICK_NAMES = [
    "conversion_rate" if m is Metric.group_conversion_rate else m.value
    for m in AFTER_THE_CLICK_METRICS
]


# Reported outcomes (meetings, deals, revenue) attached to the rows: each provider returns
# {group value: {outcome name: value}} for the same grouping and range. The API's router
# registers the people domain's (outcomes the site reported for a campaign, when the report
# is by utm_campaign or utm_source): stats never imports people. A row without any keeps
# `outcomes` null; a folded (other) row never gets any.
OutcomeProvider = Callable[[AsyncEngine, str, str, tuple[date, date]], Awaitable[dict[str, Any]]]
OUTCOME_PROVIDERS: list[OutcomeProvider] = []


def register_outcome_provider(provider: OutcomeProvider) -> None:
    """Attach a provider's outcomes to the after-the-click rows (once, however often called)."""
    if provider not in OUTCOME_PROVIDERS:
        OUTCOME_PROVIDERS.append(provider)


async def after_the_click(
    *, engine: AsyncEngine, report: AfterTheClickIn, timeout_s: float
) -> AfterTheClickOut:
    """Per source or campaign: what followed the click."""
    answer = await answer_query(
        engine=engine,
        timeout_s=timeout_s,
        query=QueryIn(
            site_id=report.site_id,
            metrics=AFTER_THE_CLICK_METRICS,
            date_range=report.date_range,
            dimensions=[report.by],
            filters=report.filters,
            limit=report.limit,
            definition_version=report.definition_version,
        ),
    )
    outcomes: dict[str, dict[str, float]] = {}
    for provider in OUTCOME_PROVIDERS:
        for value, found in (
            await provider(engine, report.site_id, report.by, report.date_range)
        ).items():
            outcomes.setdefault(value, {}).update(found)
    rows = []
    for row in answer.results:
        values = dict(zip(AFTER_THE_CLICK_NAMES, row.metrics, strict=True))
        rows.append(
            AfterTheClickRow.model_validate(
                {**values, "value": row.dimensions[0], "outcomes": outcomes.get(row.dimensions[0])}
            )
        )
    return AfterTheClickOut(
        by=report.by,
        rows=rows,
        definition_version=answer.meta.definition_version,
        k=answer.meta.k,
        notes=answer.meta.notes,
    )


# --- funnels -------------------------------------------------------------------------------


def glob_to_like(pattern: str) -> str:
    """A path glob as a LIKE pattern with backslash escapes."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _step_matches(step: FunnelStep, goals: GoalSet) -> ColumnElement[bool]:
    """A page step: a pageview of a matching path; a goal step: an event that reaches the
    goal of that name, as the `goal` dimension and filter read it (GoalSet)."""
    if step.page is not None:
        return and_(
            events.c.name == "pageview", events.c.path.like(glob_to_like(step.page), escape="\\")
        )
    assert step.goal is not None
    return goals.reached_named("is", [step.goal])


async def funnel(*, engine: AsyncEngine, report: FunnelIn, timeout_s: float) -> FunnelOut:
    """Sessions that did the steps in order (each at or after the previous one).

    With filters, a step counts only events that pass them (as POST /v1/query filters
    events), after the same k-anonymity refusals as a query (filters on a quasi-identifier).
    Steps are pages and goals: counted whole, never hidden under k.
    """
    timezone = await site_timezone(engine=engine, site_id=report.site_id)
    definition = await answering_definition(
        engine=engine, site_id=report.site_id, version=report.definition_version
    )
    scope = make_scope(
        query=QueryIn(
            site_id=report.site_id,
            metrics=[Metric.visitors],
            date_range=report.date_range,
            filters=await with_segments(
                engine=engine, site_id=report.site_id, filters=report.filters
            ),
        ),
        timezone=timezone,
        dialect_name=engine.dialect.name,
        goals=await goal_set(engine=engine, site_id=report.site_id),
    )
    # Refused before any step is counted: a refused funnel computes nothing.
    await check_k_anonymity(engine=engine, scope=scope, k=definition.k, timeout_s=timeout_s)
    in_scope = [*scope.conditions(), events.c.session_id.is_not(None)]
    reached: Any = None
    counts: list[tuple[int, int]] = []
    async with reading(engine, timeout_s, filtered=report.filters is not None) as conn:
        for index, step in enumerate(report.steps):
            statement: Select[Any] = (
                select(
                    events.c.session_id.label("session_id"),
                    func.min(events.c.visitor_hash).label("visitor_hash"),
                    func.min(events.c.occurred_at).label("reached_at"),
                )
                .select_from(scope.source())
                .where(*in_scope, _step_matches(step, scope.goals))
            )
            if reached is not None:
                statement = statement.join(
                    reached,
                    and_(
                        reached.c.session_id == events.c.session_id,
                        events.c.occurred_at >= reached.c.reached_at,
                    ),
                )
            reached = statement.group_by(events.c.session_id).subquery(f"step{index}")
            total = select(func.count(), func.count(reached.c.visitor_hash.distinct())).select_from(
                reached
            )
            sessions_count, visitors = (await conn.execute(total)).one()
            counts.append((int(sessions_count), int(visitors)))
    out: list[FunnelStepOut] = []
    first_sessions = counts[0][0]
    previous: int | None = None
    for step, (sessions_count, visitors) in zip(report.steps, counts, strict=True):
        out.append(
            FunnelStepOut(
                step=step.label(),
                sessions=sessions_count,
                visitors=visitors,
                drop_off=None if previous is None else previous - sessions_count,
                conversion_from_start=None
                if not first_sessions
                else round(sessions_count / first_sessions, 4),
                suppressed=False,
            )
        )
        previous = sessions_count
    return FunnelOut(steps=out, k=definition.k)


# --- retention -----------------------------------------------------------------------------


async def retention(*, engine: AsyncEngine, report: RetentionIn, timeout_s: float) -> RetentionOut:
    """Weekly cohorts of tier-1 visitors by the week they were first seen, answered whole:
    a cohort is a week, not an attribute that singles a person out (privacy.py)."""
    timezone = await site_timezone(engine=engine, site_id=report.site_id)
    definition = await answering_definition(
        engine=engine, site_id=report.site_id, version=report.definition_version
    )
    start, end = day_bounds(*report.date_range, timezone)
    week = local_time_bucket(engine.dialect.name, sessions.c.started_at, "week", timezone)
    tier_one = and_(sessions.c.site_id == report.site_id, sessions.c.analytics_id.is_not(None))
    first_seen = (
        select(sessions.c.analytics_id, func.min(week).label("cohort"))
        .where(tier_one, sessions.c.started_at < end)
        .group_by(sessions.c.analytics_id)
        .subquery("first_seen")
    )
    active = (
        select(sessions.c.analytics_id, week.label("week"))
        .where(tier_one, sessions.c.started_at >= start, sessions.c.started_at < end)
        .distinct()
        .subquery("active")
    )
    statement = (
        select(first_seen.c.cohort, active.c.week, func.count().label("visitors"))
        .select_from(active.join(first_seen, first_seen.c.analytics_id == active.c.analytics_id))
        .where(first_seen.c.cohort >= literal(_monday(report.date_range[0]).isoformat()))
        .group_by(first_seen.c.cohort, active.c.week)
    )
    async with reading(engine, timeout_s, filtered=False) as conn:
        cells = (await conn.execute(statement)).all()
    grid: dict[str, dict[int, int]] = {}
    for cohort, active_week, count in cells:
        offset = (date.fromisoformat(active_week) - date.fromisoformat(cohort)).days // 7
        grid.setdefault(cohort, {})[offset] = int(count)
    cohorts = []
    for cohort in sorted(grid):
        last = max(grid[cohort])
        cohorts.append(
            Cohort(
                week=cohort,
                visitors=grid[cohort].get(0, 0),
                returned=[grid[cohort].get(offset, 0) for offset in range(last + 1)],
            )
        )
    return RetentionOut(cohorts=cohorts, k=definition.k)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())
