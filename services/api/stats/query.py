"""The query engine behind POST /v1/query and the reports: metrics x dimensions x filters.

Raw path, one SQL statement in four steps:

1. `per_session`: the site's events in the date range, filtered by the tree, grouped by
   (dimensions, session, visitor): what each session did inside each row. A session's
   attribution and entry page are read from the event row (the ingest worker copies them
   there); only the exit page, which changes as a session goes on, joins events to
   sessions. Session facts for engagement (and returning visitors) are joined after the
   grouping, once per group and session instead of once per event.
2. `sized` (only for a breakdown by a quasi-identifier, see privacy.py): each group's
   distinct visitors that count toward k (`counts_toward_k`); a group under k becomes
   "(other)" (k-anonymity), so the (other) row is aggregated from its sessions again:
   distinct counts of the folded set are recomputed, never summed. Breakdowns by time,
   page, goal... are never folded.
3. `ranked` (only for percentiles): rank of each session's value inside its row.
4. the rows: counts, sums, nearest-rank percentiles.

Dimension values are text, a missing one reads "(none)"; filters test that same text.
Behavioural filters (has_done / has_not_done) test an event's session: a subquery of the
sessions with a matching event in the range. A relative date range is resolved to days in
the site's time zone first; `comparisons` runs the same query over the other days and
attaches each row's counterpart (comparisons.py).
Engagement is decided from the session facts under the definition version in use; k is the
current version's whatever version is asked for (`answering_definition`).

Every statement runs on a `bounded_connection`: past the query deadline
(OVERT_QUERY_TIMEOUT_S) it is stopped and the answer is a 503 query-timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    union_all,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import Label

from services.api.days import day_bounds, local_today, relative_days
from services.api.engagement.rules import engaged_condition
from services.api.engagement.schemas import Definition
from services.api.engagement.service import answering_definition_in
from services.api.goals.service import GoalSet, goal_set_in
from services.api.stats.channels import channel_expression
from services.api.stats.comparisons import attach_comparisons, comparison_days
from services.api.stats.exceptions import (
    KAnonymityRefused,
    MixedCurrencies,
    PatternRefused,
    QueryTimeout,
)
from services.api.stats.imports import with_imports
from services.api.stats.privacy import quasi_identifiers
from services.api.stats.schemas import (
    MISSING,
    OTHER,
    AllOf,
    AnyOf,
    Condition,
    FilterNode,
    FilterOp,
    HasDone,
    HasNotDone,
    Metric,
    NoneOf,
    QueryIn,
    QueryMeta,
    QueryOut,
    QueryRow,
    filter_children,
)
from services.api.stats.segments import with_segments
from shared.dialect import (
    StatementTimeout,
    bounded_connection,
    json_text,
    local_time_bucket,
    seconds_between,
)
from shared.models import events, page_hourly, sessions, site_hourly
from shared.sites import site_in

# Session dimensions that change after the session opens: read through a join per event.
SESSION_DIMENSIONS: dict[str, ColumnElement[Any]] = {
    "exit_page": sessions.c.exit_path,
}
EVENT_DIMENSIONS: dict[str, ColumnElement[Any]] = {
    # The session's, fixed when it opens and copied onto each of its events by ingest.
    "entry_page": events.c.session_entry_path,
    "source": events.c.session_source,
    "medium": events.c.session_medium,
    "utm_source": events.c.session_utm_source,
    "utm_medium": events.c.session_utm_medium,
    "utm_campaign": events.c.session_utm_campaign,
    "referrer": events.c.session_referrer,
    # The event's own.
    "page": events.c.path,
    "utm_term": events.c.utm_term,
    "utm_content": events.c.utm_content,
    "device": events.c.device,
    "browser": events.c.browser,
    "os": events.c.os,
    "browser_version": events.c.browser_version,
    "os_version": events.c.os_version,
    "country": events.c.country,
    "region": events.c.region,
    "city": events.c.city,
    "hostname": events.c.host,
    # The session's acquisition channel, from its source, medium and campaign (channels.py).
    "channel": channel_expression(),
}
SESSION_METRICS = {
    Metric.engaged_sessions,
    Metric.engagement_rate,
    Metric.returning_visitors,
    Metric.bounce_rate,
    Metric.visit_duration,
}
# Plausible's metrics that read a row's sessions: a bounce is a session with at most one
# pageview and no custom event (no goal); its duration runs from its first event to its last.
BOUNCE_METRICS = {Metric.bounce_rate, Metric.visit_duration}
PERCENTILES = {
    Metric.engaged_time_p50: ("engaged_ms", 50),
    Metric.engaged_time_p90: ("engaged_ms", 90),
    Metric.scroll_depth_p50: ("scroll", 50),
}
# `goal` is not a column: the site's GoalSet says which events reach which goal (the one
# definition the goal dimension, goal filters, conversions and funnels share).
CONVERSION_RATES = {Metric.conversion_rate, Metric.group_conversion_rate}
CONVERTING = {Metric.conversions, *CONVERSION_RATES}
REVENUE_METRICS = {Metric.total_revenue, Metric.average_revenue}
# What a visitor did, by the event's name: pageview, 404, outbound, download or a custom
# event. The engagement events the snippet sends on page hide carry time, not an action.
is_action = events.c.name != "engagement"
EVENT_DIMENSIONS["event"] = events.c.name


@asynccontextmanager
async def reading(
    engine: AsyncEngine, timeout_s: float, *, filtered: bool
) -> AsyncIterator[AsyncConnection]:
    """A connection for a query's statements, bounded by the query deadline; what the
    database refuses becomes a problem: a statement past the deadline a 503 query-timeout,
    a pattern the database rejects (when there are filters) a 422 bad-filter."""
    try:
        async with bounded_connection(engine, timeout_s) as conn:
            yield conn
    except StatementTimeout:
        raise QueryTimeout(timeout_s) from None
    except DBAPIError as exc:
        if filtered:
            raise PatternRefused() from exc
        raise


ENGAGED = "who engaged (time on a page or a second page; single hits do not count toward k)"


def counts_toward_k(facts: FromClause) -> ColumnElement[bool]:
    """Whether a session's visitor counts toward k: the session shows engagement (engaged
    time reported by the page, or a second pageview), not a bare hit.

    Anyone can send events through the anonymous /e: k-1 bare pageviews from made-up
    visitors would otherwise pad a group around one real visitor up to k and reveal that
    visitor's exact numbers. Counting only sessions with engagement makes each fake cost a
    scripted engaged visit instead of one request, and keeps crawlers and prefetches that
    pass the bot filter from counting at all. Groups are folded, and filters refused, on
    this count; the `visitors` shown still count every visitor hash.
    """
    return or_(facts.c.engaged_ms > 0, facts.c.pageviews >= 2)


@dataclass(frozen=True, slots=True)
class Answer:
    rows: list[tuple[list[str], list[int | float | None]]]
    folded_groups: int
    suppressed: bool
    total_rows: int
    folded_visitors: int = 0  # visitors in the (other) row shown (0 when none is shown)


def dimension_value(dimension: str, *, dialect_name: str, timezone: str) -> ColumnElement[Any]:
    """The stored value of a dimension for one event row (NULL when missing)."""
    if dimension.startswith("time:"):
        unit = dimension.split(":", 1)[1]
        return local_time_bucket(dialect_name, events.c.occurred_at, unit, timezone)
    if dimension.startswith("prop:"):
        return json_text(dialect_name, events.c.props, dimension.split(":", 1)[1])
    return {**SESSION_DIMENSIONS, **EVENT_DIMENSIONS}[dimension]


def dimension_expression(dimension: str, *, dialect_name: str, timezone: str) -> ColumnElement[str]:
    """The text value of a dimension for one event row ("(none)" when missing)."""
    value = dimension_value(dimension, dialect_name=dialect_name, timezone=timezone)
    if dimension.startswith("time:"):
        return value  # never missing
    return func.coalesce(value, literal(MISSING))


def needs_session(dimensions: Sequence[str], filters: FilterNode | None) -> bool:
    names = set(dimensions) | (set(filter_dimensions(filters)) if filters else set())
    return bool(names & SESSION_DIMENSIONS.keys())


def filter_dimensions(node: FilterNode) -> list[str]:
    if isinstance(node, Condition):
        return [node.dimension]
    return [name for child in filter_children(node) for name in filter_dimensions(child)]


def filter_condition(
    node: FilterNode,
    *,
    dialect_name: str,
    timezone: str,
    goals: GoalSet,
    within: Sequence[ColumnElement[bool]] = (),
) -> ColumnElement[bool]:
    """SQL for a filter tree over event rows; `within` bounds the events a behavioural
    filter (has_done, has_not_done) looks among: the query's site and date range. A goal
    condition is the site's goals' (GoalSet)."""

    def inner(child: FilterNode) -> ColumnElement[bool]:
        return filter_condition(
            child, dialect_name=dialect_name, timezone=timezone, goals=goals, within=within
        )

    if isinstance(node, AllOf):
        return and_(*(inner(c) for c in node.and_))
    if isinstance(node, AnyOf):
        return or_(*(inner(c) for c in node.or_))
    if isinstance(node, NoneOf):
        return not_(inner(node.not_))
    if isinstance(node, HasDone | HasNotDone):
        return behaviour_condition(node, inner, within=within)
    if node.dimension == "goal":
        return goals.reached_named(node.op.value, node.values)
    if node.op in (FilterOp.is_, FilterOp.is_not):
        # The test on the "(none)"-filled text, spelled on the stored value so that the
        # planner estimates it from the column's statistics. Never NULL, so NOT(...) stays the
        # exact complement (the k-anonymity check relies on it).
        stored = dimension_value(node.dimension, dialect_name=dialect_name, timezone=timezone)
        present = stored.is_not(None)
        if node.op is FilterOp.is_:
            listed = and_(present, stored.in_(node.values))
            return or_(listed, stored.is_(None)) if MISSING in node.values else listed
        unlisted = stored.not_in(node.values)
        return and_(present, unlisted) if MISSING in node.values else or_(~present, unlisted)
    # The "(none)"-filled text is never NULL, so contains_not / matches_not are the exact
    # complements of contains / matches.
    value = dimension_expression(node.dimension, dialect_name=dialect_name, timezone=timezone)
    if node.op in (FilterOp.contains, FilterOp.contains_not):
        lowered = func.lower(value)
        found = or_(*(lowered.contains(v.lower(), autoescape=True) for v in node.values))
    else:
        found = or_(*(value.regexp_match(pattern) for pattern in node.values))
    return not_(found) if node.op in (FilterOp.contains_not, FilterOp.matches_not) else found


def behaviour_condition(
    node: HasDone | HasNotDone,
    inner: Callable[[FilterNode], ColumnElement[bool]],
    *,
    within: Sequence[ColumnElement[bool]],
) -> ColumnElement[bool]:
    """Plausible's behavioural filters, at session level: an event passes has_done when an
    event of its session (among `within`) matches the inner tree, has_not_done when none
    does. Events without a session pass has_not_done only. Never NULL (NOT IN over a set
    without NULLs, and the session tested first), so NOT(...) stays the exact complement."""
    tree = node.has_done if isinstance(node, HasDone) else node.has_not_done
    source: FromClause = events
    if needs_session([], tree):
        source = events.outerjoin(sessions, sessions.c.session_id == events.c.session_id)
    done = (
        select(events.c.session_id)
        .select_from(source)
        .where(*within, events.c.session_id.is_not(None), inner(tree))
        .correlate(None)
    )
    if isinstance(node, HasDone):
        return and_(events.c.session_id.is_not(None), events.c.session_id.in_(done))
    return or_(events.c.session_id.is_(None), events.c.session_id.not_in(done))


@dataclass(frozen=True, slots=True)
class QueryScope:
    """Which events a query reads: site, time, filters, joined to sessions when a dimension
    or filter reads the exit page."""

    site_id: str
    timezone: str
    dialect_name: str
    query: QueryIn
    join_sessions: bool
    goals: GoalSet

    @property
    def guarded(self) -> list[str]:
        """The quasi-identifiers this query touches (dimensions, then filters): k applies
        to it only when there is one."""
        filtered = filter_dimensions(self.query.filters) if self.query.filters else []
        return quasi_identifiers([*self.query.dimensions, *filtered])

    def source(self) -> FromClause:
        if self.join_sessions:
            return events.outerjoin(sessions, sessions.c.session_id == events.c.session_id)
        return events

    @property
    def goal_rows(self) -> FromClause | None:
        """In a breakdown by registered goals: one row per goal, joined to the events that
        reach it (`grouped_source`)."""
        if "goal" in self.query.dimensions and not self.goals.implicit:
            return self.goals.rows()
        return None

    def grouped_source(self, goal_rows: FromClause | None) -> FromClause:
        """The source rows of a breakdown: each event once, or once per goal it reaches."""
        if goal_rows is None:
            return self.source()
        return self.source().join(goal_rows, self.goals.join_condition(goal_rows))

    def bounds(self) -> list[ColumnElement[bool]]:
        """The site's events in the date range."""
        start, end = day_bounds(*self.query.days(), self.timezone)
        return [
            events.c.site_id == self.site_id,
            events.c.occurred_at >= start,
            events.c.occurred_at < end,
        ]

    def matched(self) -> ColumnElement[bool]:
        """The filter tree's condition (the query must have one)."""
        assert self.query.filters is not None
        return filter_condition(
            self.query.filters,
            dialect_name=self.dialect_name,
            timezone=self.timezone,
            goals=self.goals,
            within=self.bounds(),
        )

    def conditions(self, *, with_filters: bool = True) -> list[ColumnElement[bool]]:
        where = self.bounds()
        if with_filters and self.query.filters is not None:
            where.append(self.matched())
        return where


def make_scope(*, query: QueryIn, timezone: str, dialect_name: str, goals: GoalSet) -> QueryScope:
    join = needs_session(query.dimensions, query.filters)
    return QueryScope(query.site_id, timezone, dialect_name, query, join, goals)


def without_goals(node: FilterNode | None) -> FilterNode | None:
    """The filter tree with its goal conditions taken out (None: nothing left), the base a
    conversion rate divides by (Plausible's: the visits the goal filters would leave out
    are still candidates for converting). A branch that only tested goals goes whole; a
    behavioural filter (has_done, has_not_done) is about sessions and stays as it is."""
    if node is None:
        return None
    if isinstance(node, Condition):
        return None if node.dimension == "goal" else node
    if isinstance(node, HasDone | HasNotDone):
        return node
    if isinstance(node, NoneOf):
        inner = without_goals(node.not_)
        return None if inner is None else NoneOf.model_validate({"not": inner})
    children = [without_goals(c) for c in (node.and_ if isinstance(node, AllOf) else node.or_)]
    kept = [c for c in children if c is not None]
    if isinstance(node, AnyOf):
        # OR with a dropped (always true) branch is true: the whole branch goes.
        return AnyOf.model_validate({"or": kept}) if len(kept) == len(children) else None
    return AllOf.model_validate({"and": kept}) if kept else None


def goal_names_asked(node: FilterNode | None) -> list[str] | None:
    """The goals a filter tree narrows to with top-level `goal is` conditions (None when it
    does not): the revenue goals a total is summed over."""
    conditions = (
        [node] if isinstance(node, Condition) else node.and_ if isinstance(node, AllOf) else []
    )
    names: list[str] | None = None
    for c in conditions:
        if isinstance(c, Condition) and c.dimension == "goal" and c.op is FilterOp.is_:
            names = [v for v in c.values if names is None or v in names]
    return names


def k_check_sample(k: int) -> int:
    """Events per side that `check_k_anonymity` reads before it counts a side whole."""
    return 1_000 + 20 * k


async def check_k_anonymity(
    *, engine: AsyncEngine, scope: QueryScope, k: int, timeout_s: float
) -> None:
    """Refuse filters that match, or leave out, the events of fewer than k visitors (those
    that count toward k, `counts_toward_k`), in a query that touches a quasi-identifier
    (`QueryScope.guarded`); other queries single no one out and are answered whole.

    The second test stops differencing: (everyone) minus (everything but X's events) is X,
    so a filter that leaves out a small group is as revealing as one that selects it. It
    matters as much when only the dimensions are quasi-identifiers: a country breakdown with
    and without "page is not /x" would tell where /x's one visitor came from.

    Only "some, but fewer than k" matters, so each side (matched, left out) first counts the
    distinct visitors among at most `k_check_sample(k)` of its events, a scan that stops
    early: k or more counted visitors there settles it, and a side with fewer events than
    the sample was counted whole. Only a full sample with fewer than k (a few visitors with
    many events, or many bare hits) is counted again over all its events. The verdict is
    the exact count's: a side with any visitor but fewer than k that count is refused.
    """
    if scope.query.filters is None or not scope.guarded or k <= 1:
        return
    matched = scope.matched()
    sides = (matched, not_(matched))
    base = scope.conditions(with_filters=False)
    facts = sessions.alias("k_facts")
    source = scope.source().outerjoin(facts, facts.c.session_id == events.c.session_id)
    counted = case((counts_toward_k(facts), events.c.visitor_hash))
    sample = k_check_sample(k)
    parts = []
    for side, condition in enumerate(sides):
        limited = (
            select(events.c.visitor_hash, counted.label("counted"))
            .select_from(source)
            .where(*base, condition)
            .limit(sample)
            .subquery(f"side_{side}")
        )
        parts.append(select(literal(side).label("side"), limited.c.visitor_hash, limited.c.counted))
    both = union_all(*parts).subquery("sides")
    statement = select(
        both.c.side,
        func.count(both.c.visitor_hash.distinct()),
        func.count(both.c.counted.distinct()),
        func.count(),
    ).group_by(both.c.side)
    visitors = [(0, 0), (0, 0)]  # per side: (every visitor, those that count toward k)
    async with reading(engine, timeout_s, filtered=True) as conn:
        for side, distinct, counting, rows in (await conn.execute(statement)).all():
            visitors[int(side)] = (int(distinct), int(counting))
            if int(counting) < k and int(rows) >= sample:
                exact = (
                    select(
                        func.count(events.c.visitor_hash.distinct()), func.count(counted.distinct())
                    )
                    .select_from(source)
                    .where(*base, sides[int(side)])
                )
                every, counting_all = (await conn.execute(exact)).one()
                visitors[int(side)] = (int(every), int(counting_all))
    k_verdict(selected=visitors[0], left_out=visitors[1], k=k)


def k_verdict(*, selected: tuple[int, int], left_out: tuple[int, int], k: int) -> None:
    """Refuse a filter whose matched or left-out side has visitors but fewer than k that
    count toward k; each side is (every visitor, those that count)."""
    (selected_all, selected_counting), (left_out_all, left_out_counting) = selected, left_out
    if selected_all > 0 and selected_counting < k:
        raise KAnonymityRefused(k, f"the filters select fewer than k visitors {ENGAGED}")
    if left_out_all > 0 and left_out_counting < k:
        raise KAnonymityRefused(
            k,
            f"the filters leave out the events of fewer than k visitors {ENGAGED} "
            "(comparing with the unfiltered answer would reveal them)",
        )


def _per_session(
    scope: QueryScope,
    definition: Definition,
    metrics: set[Metric],
    *,
    folds: bool,
    keys: Sequence[ColumnElement[Any]] = (),
) -> Select[Any]:
    """Per (dimension values, session, visitor) group; `keys` are further group keys after
    the dimensions' (the daily rollups' local day), labelled on from theirs."""
    goal_rows = scope.goal_rows
    dims = [
        goal_dimension(scope, goal_rows).label(f"d{i}")
        if d == "goal"
        else dimension_expression(
            d, dialect_name=scope.dialect_name, timezone=scope.timezone
        ).label(f"d{i}")
        for i, d in enumerate(scope.query.dimensions)
    ]
    dims += [key.label(f"d{len(dims) + i}") for i, key in enumerate(keys)]
    columns: list[Label[Any]] = [
        *dims,
        events.c.session_id.label("session_id"),
        events.c.visitor_hash.label("visitor_hash"),
        *group_sums(),
        func.max(events.c.scroll_depth).label("scroll"),
    ]
    if metrics & CONVERTING:  # the goal test (patterns, props) only where it is counted
        columns.append(func.sum(case((scope.goals.reached_any(), 1), else_=0)).label("goal_events"))
    if metrics & REVENUE_METRICS:
        amount = scope.goals.revenue_amount()
        paid = scope.goals.revenue_reached(goal_rows)
        columns.append(func.sum(case((paid, amount))).label("revenue"))
        columns.append(func.count(case((paid, amount))).label("revenue_events"))
    where = scope.conditions()
    if "goal" in scope.query.dimensions and goal_rows is None:
        where.append(scope.goals.reached_any())
    if "event" in scope.query.dimensions:
        where.append(is_action)
    grouped = (
        select(*columns)
        .select_from(scope.grouped_source(goal_rows))
        .where(*where)
        .group_by(*dims, events.c.session_id, events.c.visitor_hash)
    )
    if not folds and not metrics & SESSION_METRICS:
        return grouped
    # Session facts, joined once per (row, session) after the grouping, not once per event:
    # whether the visitor counts toward k (when groups fold), and the session metrics.
    inner = grouped.subquery("grouped")
    facts = sessions.alias("facts")
    extra: list[Label[Any]] = []
    if folds:
        extra.append(case((counts_toward_k(facts), inner.c.visitor_hash)).label("counted_visitor"))
    if metrics & {Metric.engaged_sessions, Metric.engagement_rate}:
        engaged = engaged_condition(
            definition,
            engaged_ms=facts.c.engaged_ms,
            pageviews=facts.c.pageviews,
            goals=facts.c.goals,
        )
        extra.append(case((engaged, 1), else_=0).label("engaged"))
    if Metric.returning_visitors in metrics:
        earlier = sessions.alias("earlier")
        returning = and_(
            facts.c.analytics_id.is_not(None),
            exists().where(
                earlier.c.site_id == facts.c.site_id,
                earlier.c.analytics_id == facts.c.analytics_id,
                earlier.c.started_at < facts.c.started_at,
            ),
        )
        extra.append(facts.c.analytics_id.label("analytics_id"))
        extra.append(case((returning, 1), else_=0).label("is_returning"))
    if metrics & BOUNCE_METRICS:
        extra.append(bounced(facts).label("bounced"))
        extra.append(
            seconds_between(scope.dialect_name, facts.c.started_at, facts.c.last_seen_at).label(
                "duration_s"
            )
        )
    overlapping = facts_of_groups(facts, inner.c.session_id, scope)
    return select(inner, *extra).select_from(inner.outerjoin(facts, overlapping))


def group_sums() -> list[Label[Any]]:
    """What a group of events (a session's, within a row) adds up: pageviews, engaged time
    (the engagement reports'), actions (every event but those reports)."""
    return [
        func.sum(case((events.c.name == "pageview", 1), else_=0)).label("pageviews"),
        func.coalesce(
            func.sum(case((events.c.name == "engagement", events.c.engaged_ms), else_=0)), 0
        ).label("engaged_ms"),
        func.sum(case((is_action, 1), else_=0)).label("actions"),
    ]


def facts_of_groups(
    facts: FromClause, session_id: ColumnElement[Any], scope: QueryScope
) -> ColumnElement[bool]:
    """The join of per-session groups to their sessions' facts. Only the site's sessions
    that overlap the range can hold its events: said in the join, so the database hashes
    those instead of every session the site ever had."""
    start, end = day_bounds(*scope.query.days(), scope.timezone)
    return and_(
        facts.c.session_id == session_id,
        facts.c.site_id == scope.site_id,
        facts.c.started_at < end,
        facts.c.last_seen_at >= start,
    )


def bounced(facts: FromClause) -> ColumnElement[int]:
    """1 for a bounce, Plausible's rule: a session with at most one pageview and no custom
    event (engagement time, 404s, outbound clicks and downloads, which the snippet sends by
    itself, do not count as an interaction)."""
    return case((and_(facts.c.pageviews <= 1, facts.c.goals == 0), 1), else_=0)


def _plausible_metric(metric: Metric, rows: Any) -> Any:
    """Plausible's metrics, in its units (see _number for their rounding; `percentage` is
    the row's visitors here, divided by the scope's in `with_percentage`)."""
    sessions_count = func.count(rows.c.session_id)
    if metric is Metric.visits:
        return sessions_count
    if metric is Metric.bounce_rate:
        return func.sum(rows.c.bounced) * 100.0 / func.nullif(sessions_count, 0)
    if metric is Metric.visit_duration:
        return func.avg(rows.c.duration_s)
    if metric is Metric.views_per_visit:
        return func.coalesce(func.sum(rows.c.pageviews), 0) * 1.0 / func.nullif(sessions_count, 0)
    if metric is Metric.events:
        return func.coalesce(func.sum(rows.c.actions), 0)
    if metric is Metric.percentage:
        return func.count(rows.c.visitor_hash.distinct())
    # time_on_page: engaged time per visitor of the row, in seconds
    engaged = func.coalesce(func.sum(rows.c.engaged_ms), 0)
    return engaged / 1000.0 / func.nullif(func.count(rows.c.visitor_hash.distinct()), 0)


PLAUSIBLE_METRICS = {
    Metric.visits,
    Metric.bounce_rate,
    Metric.visit_duration,
    Metric.views_per_visit,
    Metric.events,
    Metric.percentage,
    Metric.time_on_page,
}


def goal_dimension(scope: QueryScope, goal_rows: FromClause | None) -> ColumnElement[str]:
    """The goal an event row reached: the joined goal's name, or (no goals registered) the
    custom event's own name."""
    if goal_rows is not None:
        column: ColumnElement[str] = goal_rows.c.goal
        return column
    return func.coalesce(scope.goals.implicit_name(), literal(MISSING))


def _metric_column(metric: Metric, rows: Any, goal_sessions_total: int | None) -> Any:
    sessions_count = func.count(rows.c.session_id)
    if metric in PLAUSIBLE_METRICS:
        return _plausible_metric(metric, rows)
    if metric is Metric.visitors:
        return func.count(rows.c.visitor_hash.distinct())
    if metric is Metric.sessions:
        return sessions_count
    if metric is Metric.pageviews:
        return func.coalesce(func.sum(rows.c.pageviews), 0)
    if metric is Metric.engaged_sessions:
        return func.coalesce(func.sum(rows.c.engaged), 0)
    if metric is Metric.engagement_rate:
        return func.coalesce(func.sum(rows.c.engaged), 0) * 1.0 / func.nullif(sessions_count, 0)
    if metric is Metric.engaged_time_total:
        return func.coalesce(func.sum(rows.c.engaged_ms), 0)
    if metric is Metric.conversions:
        return func.count(case((rows.c.goal_events > 0, rows.c.session_id)))
    if metric in CONVERSION_RATES:
        converted = func.count(case((rows.c.goal_events > 0, rows.c.session_id)))
        if goal_sessions_total is not None:  # the query's base, or (a group's) by `rates`
            return converted * 1.0 / func.nullif(literal(goal_sessions_total), 0)
        return converted * 1.0 / func.nullif(sessions_count, 0)
    if metric is Metric.total_revenue:
        return func.sum(rows.c.revenue)
    if metric is Metric.average_revenue:
        return func.sum(rows.c.revenue) / func.nullif(func.sum(rows.c.revenue_events), 0)
    if metric is Metric.returning_visitors:
        return func.count(case((rows.c.is_returning == 1, rows.c.analytics_id)).distinct())
    value, percent = PERCENTILES[metric]
    rank, size = rows.c[f"{value}_rank"], rows.c[f"{value}_n"]
    return func.min(case((rank * 100 >= size * percent, rows.c[value])))


def _ranked(sized: Any, dims: list[Any]) -> Select[Any]:
    """Nearest-rank positions of each session's engaged time and scroll depth in its row."""
    extra = []
    for value in ("engaged_ms", "scroll"):
        column = sized.c[value]
        present = column.is_not(None)
        extra.append(
            func.row_number()
            .over(partition_by=[*dims, present], order_by=column)
            .label(f"{value}_position")
        )
        extra.append(
            func.count(column).over(partition_by=dims).label(f"{value}_n"),
        )
    inner = select(sized, *extra).subquery("positions")
    rank_columns = [
        case((inner.c[f"{value}"].is_not(None), inner.c[f"{value}_position"])).label(
            f"{value}_rank"
        )
        for value in ("engaged_ms", "scroll")
    ]
    return select(inner, *rank_columns)


async def run_raw(
    *, engine: AsyncEngine, scope: QueryScope, definition: Definition, timeout_s: float
) -> Answer:
    """Group, fold under k (a breakdown by a quasi-identifier only), aggregate; rows sorted
    and paginated as the query asks."""
    query = scope.query
    metrics = set(query.metrics)
    dim_names = [f"d{i}" for i in range(len(query.dimensions))]
    k = definition.k
    folds = bool(quasi_identifiers(query.dimensions)) and k > 1
    per_session = _per_session(scope, definition, metrics, folds=folds).subquery("per_session")
    if folds:
        # Distinct visitors that count toward k per group without a self-join (PostgreSQL
        # has no DISTINCT in window functions): the highest dense rank of counted_visitor
        # inside the group, ranked apart from the rows without one (NULL).
        groups = [per_session.c[n] for n in dim_names]
        counting = per_session.c.counted_visitor.is_not(None)
        ranked_visitors = select(
            per_session,
            func.dense_rank()
            .over(partition_by=[*groups, counting], order_by=per_session.c.counted_visitor)
            .label("visitor_rank"),
        ).subquery("visitor_ranks")
        counted_rank = case(
            (ranked_visitors.c.counted_visitor.is_not(None), ranked_visitors.c.visitor_rank),
            else_=0,
        )
        small = (
            func.max(counted_rank).over(partition_by=[ranked_visitors.c[n] for n in dim_names]) < k
        )
        folded = [
            case((small, literal(OTHER)), else_=ranked_visitors.c[n]).label(n) for n in dim_names
        ]
        original = [ranked_visitors.c[n].label(f"original_{n}") for n in dim_names]
        others = [
            c for c in ranked_visitors.c if c.name not in dim_names and c.name != "visitor_rank"
        ]
        sized = select(
            *folded, *original, *others, case((small, 1), else_=0).label("was_small")
        ).subquery("sized")
    else:
        sized = select(per_session, literal(0).label("was_small")).subquery("sized")
    rows: Any = sized
    if metrics & PERCENTILES.keys():
        rows = _ranked(sized, [sized.c[n] for n in dim_names]).subquery("ranked")
    rates = await conversion_bases(engine=engine, scope=scope, timeout_s=timeout_s)
    # Per row: visitors counting toward k, and how many groups were folded into it.
    counted_visitors: Any = literal(0)
    groups_in_row: Any = literal(1)
    if folds:
        group_key: Any = literal("")
        for n in dim_names:
            group_key = group_key + rows.c[f"original_{n}"] + "\x1f"
        counted_visitors = func.count(rows.c.counted_visitor.distinct())
        groups_in_row = func.count(group_key.distinct())
    statement = select(
        *(rows.c[n] for n in dim_names),
        *(rates.column(m, rows).label(m.value) for m in query.metrics),
        func.count(rows.c.visitor_hash.distinct()).label("row_visitors"),
        counted_visitors.label("counted_visitors"),
        func.max(rows.c.was_small).label("folded"),
        groups_in_row.label("groups"),
    ).group_by(*(rows.c[n] for n in dim_names))

    async def rows_of_statement() -> list[Any]:
        async with reading(engine, timeout_s, filtered=query.filters is not None) as conn:
            return list((await conn.execute(statement)).all())

    visitors_total = None
    if Metric.percentage in metrics:
        # The scope's visitors are counted beside the rows, on another connection.
        result, visitors_total = await asyncio.gather(
            rows_of_statement(),
            _visitors_in_scope(engine=engine, scope=scope, timeout_s=timeout_s),
        )
    else:
        result = await rows_of_statement()
    return shape_rows(
        [
            (
                [str(row._mapping[n]) for n in dim_names],
                rates.finish(
                    [str(row._mapping[n]) for n in dim_names],
                    [
                        _number(m, with_percentage(m, row._mapping[m.value], visitors_total))
                        for m in query.metrics
                    ],
                ),
                int(row.row_visitors),
                int(row.counted_visitors),
                bool(row.folded),
            )
            for row in result
        ],
        query=query,
        k=k,
        folded_groups=sum(int(row.groups) for row in result if row.folded) if dim_names else 0,
    )


def base_scope(scope: QueryScope) -> QueryScope:
    """The scope a conversion rate divides by: the query's, goal conditions taken out."""
    stripped = without_goals(scope.query.filters)
    return replace(scope, query=scope.query.model_copy(update={"filters": stripped}))


def goal_filtered(query: QueryIn) -> bool:
    return query.filters is not None and "goal" in filter_dimensions(query.filters)


@dataclass(frozen=True, slots=True)
class ConversionBases:
    """What conversion rates divide by, and the revenue currencies in play (Plausible v2's
    semantics, over sessions as Overt counts conversions):

    - `conversion_rate`: converted sessions / the sessions of the whole query with its goal
      filters taken out (no dimensions): under a goal filter, the share of all sessions that
      reached the goal, as the `goal` dimension's row for that goal says;
    - `group_conversion_rate`: the same, divided by the sessions of the row's own group (its
      dimensions but `goal`), goal filters taken out. A folded (other) row has no group to
      divide by under goal filters or a goal breakdown: null there.
    """

    query: QueryIn
    total: int | None  # conversion_rate's base when it is not the row's own sessions
    groups: dict[tuple[str, ...], int] | None  # group_conversion_rate's, likewise
    currencies: dict[str, str | None]  # goal name (or "" without a goal dimension): currency

    def column(self, metric: Metric, rows: Any) -> Any:
        if metric is Metric.group_conversion_rate and self.groups is not None:
            return _metric_column(Metric.conversions, rows, None)
        if metric is Metric.group_conversion_rate:
            return _metric_column(metric, rows, None)
        return _metric_column(metric, rows, self.total)

    def finish(
        self, dimensions: list[str], values: list[int | float | None]
    ) -> list[int | float | None]:
        """Group rates divided in Python (their bases are per group); revenue only where a
        revenue goal is in play, in its currency."""
        dims = self.query.dimensions
        goal_index = dims.index("goal") if "goal" in dims else None
        currency = self.currencies.get(dimensions[goal_index] if goal_index is not None else "")
        out = list(values)
        for index, metric in enumerate(self.query.metrics):
            if metric is Metric.group_conversion_rate and self.groups is not None:
                key = tuple(v for i, v in enumerate(dimensions) if i != goal_index)
                base = None if OTHER in dimensions else self.groups.get(key)
                converted = values[index]
                out[index] = round(converted / base, 4) if base and converted is not None else None
            elif metric in REVENUE_METRICS:
                if currency is None:
                    out[index] = None
                elif metric is Metric.total_revenue and values[index] is None:
                    out[index] = 0.0
        return out


async def conversion_bases(
    *, engine: AsyncEngine, scope: QueryScope, timeout_s: float
) -> ConversionBases:
    query = scope.query
    metrics = set(query.metrics)
    by_goal = "goal" in query.dimensions
    filtered = goal_filtered(query)
    total = groups = None
    if Metric.conversion_rate in metrics and (query.dimensions or filtered):
        base = base_scope(scope)
        found = await _sessions_by_group(engine=engine, scope=base, by=[], timeout_s=timeout_s)
        total = found.get((), 0)
    if Metric.group_conversion_rate in metrics and (filtered or by_goal):
        by = [d for d in query.dimensions if d != "goal"]
        groups = await _sessions_by_group(
            engine=engine, scope=base_scope(scope), by=by, timeout_s=timeout_s
        )
    currencies: dict[str, str | None] = {}
    if metrics & REVENUE_METRICS:
        if by_goal:
            currencies = {g.name: g.currency for g in scope.goals.goals}
        else:
            found_currencies = scope.goals.revenue_currencies(goal_names_asked(query.filters))
            if len(found_currencies) > 1:
                raise MixedCurrencies(sorted(found_currencies))
            currencies = {"": min(found_currencies)} if found_currencies else {}
    return ConversionBases(query, total, groups, currencies)


async def _sessions_by_group(
    *, engine: AsyncEngine, scope: QueryScope, by: list[str], timeout_s: float
) -> dict[tuple[str, ...], int]:
    """Sessions in scope per group of the dimensions `by` (none: one total)."""
    groups = [
        dimension_expression(d, dialect_name=scope.dialect_name, timezone=scope.timezone)
        for d in by
    ]
    statement = (
        select(*groups, func.count(events.c.session_id.distinct()))
        .select_from(scope.source())
        .where(*scope.conditions())
        .group_by(*groups)
    )
    async with reading(engine, timeout_s, filtered=scope.query.filters is not None) as conn:
        result = (await conn.execute(statement)).all()
    return {tuple(str(v) for v in row[:-1]): int(row[-1]) for row in result}


async def _visitors_in_scope(*, engine: AsyncEngine, scope: QueryScope, timeout_s: float) -> int:
    return await _distinct_in_scope(
        events.c.visitor_hash, engine=engine, scope=scope, timeout_s=timeout_s
    )


async def _distinct_in_scope(
    column: ColumnElement[Any], *, engine: AsyncEngine, scope: QueryScope, timeout_s: float
) -> int:
    """Distinct values of an `events` column among the scope's events."""
    statement = (
        select(func.count(column.distinct())).select_from(scope.source()).where(*scope.conditions())
    )
    async with reading(engine, timeout_s, filtered=scope.query.filters is not None) as conn:
        return int((await conn.execute(statement)).scalar_one())


def with_percentage(metric: Metric, value: Any, visitors_total: int | None) -> Any:
    """A row's `percentage`: its visitors (what the statement counted) in percent of the
    scope's; other metrics pass through."""
    if metric is not Metric.percentage or value is None:
        return value
    return int(value) * 100.0 / visitors_total if visitors_total else None


# Decimal places of the metrics that are not counts (Plausible's for its own metrics).
ROUNDED = {
    Metric.engagement_rate: 4,
    Metric.conversion_rate: 4,
    Metric.group_conversion_rate: 4,
    Metric.total_revenue: 2,
    Metric.average_revenue: 2,
    Metric.views_per_visit: 2,
    Metric.percentage: 1,
}
# Rounded to whole numbers (not truncated): Plausible's bounce rate (percent), visit
# duration and time on page (seconds).
WHOLE = {Metric.bounce_rate, Metric.visit_duration, Metric.time_on_page}


# Set while an answer is made to be added to imported data (imports.py): its rates are left
# unrounded there, and rounded once, after the adding.
EXACT: ContextVar[bool] = ContextVar("overt_exact_rates", default=False)


def _number(metric: Metric, value: Any) -> int | float | None:
    if value is None:
        return None
    if EXACT.get() and (metric in ROUNDED or metric in WHOLE):
        return float(value)
    if metric in ROUNDED:
        return round(float(value), ROUNDED[metric])
    if metric in WHOLE:  # half up, as people round (round() goes to even)
        return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return int(value)


def _sort_key(
    field: str, dimensions: Sequence[str], metrics: Sequence[str]
) -> Callable[[tuple[list[str], list[int | float | None]]], Any]:
    if field in dimensions:
        index = dimensions.index(field)
        return lambda row: row[0][index]
    index = metrics.index(field)
    return lambda row: (row[1][index] is not None, row[1][index] or 0)


# (dimension values, metric values, visitors, visitors counting toward k, folded)
ShapedRow = tuple[list[str], list[int | float | None], int, int, bool]


def shape_rows(rows: list[ShapedRow], *, query: QueryIn, k: int, folded_groups: int) -> Answer:
    """Drop an (other) row that is itself under k, order, paginate.

    A total (no dimensions) is never refused here: a site's own totals single no one out,
    and filters on a quasi-identifier were held to k before (`check_k_anonymity`)."""
    suppressed = False
    folded_visitors = 0
    kept: list[tuple[list[str], list[int | float | None]]] = []
    for dimensions, values, visitors, counting, folded in rows:
        if folded and counting < k:
            suppressed = True
            continue
        if folded:
            folded_visitors = visitors
        kept.append((dimensions, values))
    names = [m.value for m in query.metrics]
    orders = list(query.order_by)
    if not orders:
        time_dims = [d for d in query.dimensions if d.startswith("time:")]
        orders_spec = [(time_dims[0], "asc")] if time_dims else [(names[0], "desc")]
    else:
        orders_spec = [(o.field, o.direction) for o in orders]
    # Stable sorts from the last key to the first; dimension text breaks remaining ties.
    kept.sort(key=lambda row: row[0])
    for field, direction in reversed(orders_spec):
        kept.sort(key=_sort_key(field, query.dimensions, names), reverse=direction == "desc")
    kept.sort(key=lambda row: OTHER in row[0])  # (other) last
    page = kept[query.offset : query.offset + query.limit]
    return Answer(
        rows=page,
        folded_groups=folded_groups,
        suppressed=suppressed,
        total_rows=len(kept),
        folded_visitors=folded_visitors,
    )


# --- rollups ---------------------------------------------------------------------------------

ROLLUP_METRICS = {
    Metric.visitors: "visitors",
    Metric.pageviews: "pageviews",
    Metric.engaged_time_total: "engaged_ms",
}
ROLLUP_TIME = ("time:day", "time:week", "time:month")


def whole_utc_days(first: date, last: date, timezone: str) -> bool:
    """True when every local day of the range starts at a UTC midnight (zone at UTC+0)."""
    zone = ZoneInfo(timezone)
    day = first
    while day <= last + timedelta(days=1):
        offset = datetime.combine(day, time.min, zone).utcoffset()
        if offset is None or offset.total_seconds() != 0:
            return False
        day += timedelta(days=1)
    return True


def rollup_eligible(query: QueryIn, timezone: str) -> bool:
    """Whether the hourly rollups answer this query exactly.

    Their visitor counters are first sightings per UTC day (a visitor hash lives one day),
    so they add up over whole UTC days only: no filters, no hour buckets, a site whose
    local days are UTC days, and only the additive metrics.
    """
    dims = query.dimensions
    return (
        query.filters is None
        and set(query.metrics) <= ROLLUP_METRICS.keys()
        and (dims in ([], ["page"]) or (len(dims) == 1 and dims[0] in ROLLUP_TIME))
        and whole_utc_days(*query.days(), timezone)
    )


async def run_rollup(
    *, engine: AsyncEngine, query: QueryIn, timezone: str, timeout_s: float
) -> Answer:
    """The same answer from page_hourly / site_hourly.

    Nothing folds here: the rollups answer only totals, time buckets and pages (no
    filters), which single no one out (privacy.py), so k does not apply.
    """
    table = page_hourly if query.dimensions == ["page"] else site_hourly
    start, end = day_bounds(*query.days(), timezone)
    groups: list[ColumnElement[str]] = []
    if query.dimensions == ["page"]:
        groups = [page_hourly.c.path]
    elif query.dimensions:
        unit = query.dimensions[0].split(":", 1)[1]
        groups = [local_time_bucket(engine.dialect.name, table.c.hour, unit, timezone)]
    sums = {
        name: func.coalesce(func.sum(table.c[name]), 0) for name in set(ROLLUP_METRICS.values())
    }
    statement = (
        select(
            *(g.label(f"d{i}") for i, g in enumerate(groups)),
            *(v.label(n) for n, v in sums.items()),
        )
        .where(table.c.site_id == query.site_id, table.c.hour >= start, table.c.hour < end)
        .group_by(*groups)
    )
    async with reading(engine, timeout_s, filtered=False) as conn:
        result = (await conn.execute(statement)).mappings().all()
    rows: list[ShapedRow] = []
    for row in result:
        values: list[int | float | None] = [int(row[ROLLUP_METRICS[m]]) for m in query.metrics]
        rows.append(([str(row["d0"])] if groups else [], values, int(row["visitors"]), 0, False))
    return shape_rows(rows, query=query, k=1, folded_groups=0)


def privacy_notes(answer: Answer, *, k: int, guarded: list[str]) -> list[str]:
    """What k did to an answer, in words a person can be shown beside it."""
    if not guarded:
        return []
    if k <= 1:
        return ["k-anonymity is off for this site (k = 1): small groups are shown as they are"]
    notes = []
    groups, are = ("group", "is") if answer.folded_groups == 1 else ("groups", "are")
    if answer.folded_visitors:
        people = "visitor" if answer.folded_visitors == 1 else "visitors"
        notes.append(
            f"{answer.folded_visitors} {people} in {answer.folded_groups} {groups} smaller "
            f"than {k} {are} shown as (other)"
        )
    if answer.suppressed:
        notes.append(
            f"{answer.folded_groups} {groups} smaller than {k} {are} left out: "
            f"even together they are fewer than {k} visitors"
        )
    if answer.folded_groups:
        notes.append(
            f"a group is shown when at least {k} of its visitors engaged (time on a page or "
            "a second page): single hits do not count toward k"
        )
    return notes


async def resolve_days(
    *,
    engine: AsyncEngine,
    query: QueryIn,
    timezone: str,
    timeout_s: float,
    now: datetime | None = None,
) -> tuple[date, date]:
    """The query's days: a relative range resolved in the site's time zone (`all` starts on
    the site's first hour with data, at most ten years back)."""
    if not isinstance(query.date_range, str):
        return query.date_range
    today = local_today(timezone, now)
    first_day = None
    if query.date_range == "all":
        statement = select(func.min(site_hourly.c.hour)).where(
            site_hourly.c.site_id == query.site_id
        )
        async with reading(engine, timeout_s, filtered=False) as conn:
            first_hour = (await conn.execute(statement)).scalar_one()
        if first_hour is not None:
            first_day = first_hour.astimezone(ZoneInfo(timezone)).date()
            first_day = max(first_day, today - timedelta(days=3660))
    return relative_days(query.date_range, today=today, first_day=first_day)


# Tests set this to read the raw path where a rollup would answer (to compare the two).
FORCE_RAW: ContextVar[bool] = ContextVar("overt_force_raw", default=False)


@dataclass(frozen=True, slots=True)
class SiteContext:
    """What a query reads of its site before its own statements."""

    timezone: str
    definition: Definition  # the version answering, under the k in force
    goals: GoalSet


async def site_context(*, engine: AsyncEngine, site_id: str, version: int | None) -> SiteContext:
    """The site's zone, answering definition and goals, on one connection (a dashboard
    sends its requests at once: each connection taken is a round trip or more)."""
    async with engine.connect() as conn:
        site = await site_in(conn, site_id)
        if site is None:
            raise LookupError(f"no site with id {site_id!r}")
        definition = await answering_definition_in(
            conn, site_id=site_id, version=version, site=site
        )
        goals = await goal_set_in(conn, site_id)
    return SiteContext(site.timezone, definition, goals)


async def _answer_days(
    *, engine: AsyncEngine, query: QueryIn, context: SiteContext, timeout_s: float
) -> tuple[Answer, bool, QueryScope]:
    """The answer for a query over explicit days: (answer, from the rollups, its scope):
    the hourly rollups, else the daily ones (daily.py), else the events."""
    from services.api.stats import daily  # it builds on this module

    timezone, definition, goals = context.timezone, context.definition, context.goals
    scope = make_scope(
        query=query, timezone=timezone, dialect_name=engine.dialect.name, goals=goals
    )
    if not FORCE_RAW.get():
        if rollup_eligible(query, timezone):
            answer = await run_rollup(
                engine=engine, query=query, timezone=timezone, timeout_s=timeout_s
            )
            return answer, True, scope
        plan = daily.daily_plan(query, timezone)
        served = None
        if plan is not None:
            served = await daily.run_daily(
                engine=engine,
                query=query,
                plan=plan,
                definition=definition,
                goals=goals,
                timeout_s=timeout_s,
            )
        if served is not None:
            return served, True, scope
    # The refusal check and the answer run side by side (two connections); the answer is
    # dropped if the check refuses, so it never leaves this function.
    scopes = [scope]
    if set(query.metrics) & CONVERSION_RATES and goal_filtered(query):
        scopes.append(base_scope(scope))  # a rate's base is an answer of its own

    async def check_all() -> None:
        for checked_scope in scopes:
            await check_k_anonymity(
                engine=engine, scope=checked_scope, k=definition.k, timeout_s=timeout_s
            )

    checked, answered = await asyncio.gather(
        check_all(),
        run_raw(engine=engine, scope=scope, definition=definition, timeout_s=timeout_s),
        return_exceptions=True,
    )
    if isinstance(checked, BaseException):
        raise checked
    if isinstance(answered, BaseException):
        raise answered
    return answered, False, scope


async def answer_query(*, engine: AsyncEngine, query: QueryIn, timeout_s: float) -> QueryOut:
    """Run a query for its site: days resolved, k-anonymity checks, then the rows with their
    meta; with `comparisons`, the same query over the other days, beside each row. Saved
    segments named in the filters are put in place first; the query is echoed as asked."""
    if query.include.imports:
        return await with_imports(
            engine=engine, query=query, timeout_s=timeout_s, native=answer_query
        )
    asked = query
    filters = await with_segments(engine=engine, site_id=query.site_id, filters=query.filters)
    query = query.model_copy(update={"filters": filters})
    context = await site_context(
        engine=engine, site_id=query.site_id, version=query.definition_version
    )
    timezone, definition = context.timezone, context.definition
    days = await resolve_days(engine=engine, query=query, timezone=timezone, timeout_s=timeout_s)
    resolved = query.model_copy(update={"date_range": days})
    other_days = comparison_days(days, query.comparisons) if query.comparisons else None
    # The other period (every row of it, to match) runs beside this one.
    periods = [resolved]
    if other_days is not None:
        periods.append(
            resolved.model_copy(update={"date_range": other_days, "limit": 1000, "offset": 0})
        )
    answered = await asyncio.gather(
        *(
            _answer_days(engine=engine, query=period, context=context, timeout_s=timeout_s)
            for period in periods
        ),
        return_exceptions=True,  # both finish before either's refusal is raised
    )
    done: list[tuple[Answer, bool, QueryScope]] = []
    for outcome in answered:
        if isinstance(outcome, BaseException):
            raise outcome
        done.append(outcome)
    answer, rollup, scope = done[0]
    results = [QueryRow(dimensions=dims, metrics=values) for dims, values in answer.rows]
    if other_days is not None:
        other = done[1][0]
        results = attach_comparisons(
            results,
            [QueryRow(dimensions=dims, metrics=values) for dims, values in other.rows],
            dimensions=query.dimensions,
            metrics=query.metrics,
            days=days,
            other_days=other_days,
        )
    return QueryOut(
        results=results,
        meta=QueryMeta(
            timezone=timezone,
            definition_version=definition.version,
            k=definition.k,
            folded_groups=answer.folded_groups,
            suppressed=answer.suppressed,
            total_rows=answer.total_rows,
            source="rollup" if rollup else "raw",
            guarded=scope.guarded,
            notes=privacy_notes(answer, k=definition.k, guarded=scope.guarded),
            date_range=days,
            comparison_date_range=other_days,
        ),
        query=asked,
    )
