"""What Overt's own views show, computed by the engines behind /v1 (never a second engine).

Each view is a client of the report or service the API already answers with: after the click
(stats.reports.after_the_click, with the site's own totals from the query engine for lift,
and people's outcome report), funnels and retention (stats.reports), the engagement
definition (engagement.service), contacts (people.contacts) and consent (shared's read-only
consent figures). Every view says which definition version answered it and the k in force.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.days import day_bounds, local_today, relative_days, site_timezone
from services.api.engagement.schemas import Definition
from services.api.engagement.service import answering_definition, definition_versions
from services.api.people.contacts import list_contacts
from services.api.people.outcomes import outcome_report
from services.api.people.schemas import Contact, OutcomeReport, OutcomeReportIn
from services.api.stats.query import answer_query
from services.api.stats.reports import after_the_click, funnel, retention
from services.api.stats.schemas import (
    AfterTheClickIn,
    AfterTheClickOut,
    AfterTheClickRow,
    FunnelIn,
    FunnelOut,
    FunnelStep,
    Metric,
    QueryIn,
    RetentionIn,
    RetentionOut,
)
from shared.consent_figures import (
    DecisionRates,
    GpcShare,
    SubjectRequest,
    decision_rates,
    gpc_share,
    subject_requests,
)
from shared.consent_state import identified_subjects

# The relative ranges a view offers (those of POST /v1/query that end today or cover a
# whole calendar period), in the order the picker lists them.
PERIODS = ("7d", "28d", "30d", "month", "6mo", "12mo", "year")
DEFAULT_PERIOD = "30d"
AFTER_CLICK_GROUPINGS = ("source", "medium", "utm_source", "utm_medium", "utm_campaign")


@dataclass(frozen=True, slots=True)
class Days:
    """The days a view covers, in the site's time zone, and the name they were asked by."""

    period: str
    first: date
    last: date
    timezone: str


async def view_days(
    *, engine: AsyncEngine, site_id: str, period: str, now: datetime | None = None
) -> Days:
    """A relative period (PERIODS; anything else is the default) as the site's local days."""
    period = period if period in PERIODS else DEFAULT_PERIOD
    timezone = await site_timezone(engine=engine, site_id=site_id)
    first, last = relative_days(period, today=local_today(timezone, now), first_day=None)
    return Days(period=period, first=first, last=last, timezone=timezone)


# --- after the click -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lift:
    """A row's rate against the site's own over the same days: 1.0 is the site's average."""

    engagement: float | None
    conversion: float | None


@dataclass(frozen=True, slots=True)
class AfterClickView:
    report: AfterTheClickOut
    site_engagement_rate: float | None
    site_conversion_rate: float | None
    lifts: list[Lift]  # one per report row, in its order
    outcomes: OutcomeReport


def ratio(part: float | None, whole: float | None) -> float | None:
    """part / whole rounded to two places; None when either is missing or whole is 0."""
    if part is None or not whole:
        return None
    return round(part / whole, 2)


def row_lift(row: AfterTheClickRow, engagement: float | None, conversion: float | None) -> Lift:
    return Lift(
        engagement=ratio(row.engagement_rate, engagement),
        conversion=ratio(row.conversion_rate, conversion),
    )


async def after_click_view(
    *, engine: AsyncEngine, site_id: str, days: Days, by: str, timeout_s: float
) -> AfterClickView:
    """Per source or campaign what followed, each against the site's average (lift), and how
    often good outcomes followed each intent signal (people's outcome report)."""
    by = by if by in AFTER_CLICK_GROUPINGS else "source"
    date_range = (days.first, days.last)
    report = await after_the_click(
        engine=engine,
        report=AfterTheClickIn.model_validate(
            {"site_id": site_id, "date_range": date_range, "by": by}
        ),
        timeout_s=timeout_s,
    )
    totals = await answer_query(
        engine=engine,
        timeout_s=timeout_s,
        query=QueryIn(
            site_id=site_id,
            metrics=[Metric.engagement_rate, Metric.conversion_rate],
            date_range=date_range,
            definition_version=report.definition_version,
        ),
    )
    engagement, conversion = totals.results[0].metrics if totals.results else (None, None)
    outcomes = await outcome_report(
        engine=engine, query=OutcomeReportIn(site_id=site_id, date_range=date_range)
    )
    return AfterClickView(
        report=report,
        site_engagement_rate=engagement,
        site_conversion_rate=conversion,
        lifts=[row_lift(row, engagement, conversion) for row in report.rows],
        outcomes=outcomes,
    )


# --- funnels ---------------------------------------------------------------------------------

MAX_STEPS = 8
GOAL_PREFIX = "goal:"
_SPACES = re.compile(r"\s+")


class StepsError(ValueError):
    """Funnel steps the owner typed that do not make a funnel; the message says why."""


def parse_steps(text: str) -> list[FunnelStep]:
    """One step a line: a path glob starting with / (e.g. /pricing*), or `goal: NAME`.

    Blank lines are skipped; 2 to MAX_STEPS steps make a funnel. Raises StepsError with a
    sentence for the form."""
    steps: list[FunnelStep] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            if line.lower().startswith(GOAL_PREFIX):
                goal = _SPACES.sub(" ", line[len(GOAL_PREFIX) :].strip())
                steps.append(FunnelStep(goal=goal))
            else:
                steps.append(FunnelStep(page=line))
        except ValueError:
            raise StepsError(
                f"Line {number}: a step is a path starting with / (at most 256 characters) "
                "or goal: and a goal's name."
            ) from None
    if not 2 <= len(steps) <= MAX_STEPS:
        raise StepsError(f"A funnel has 2 to {MAX_STEPS} steps, one a line.")
    return steps


def steps_text(steps: list[FunnelStep]) -> str:
    """The steps as the form shows them (parse_steps reads it back to the same steps)."""
    return "\n".join(
        step.page if step.page is not None else f"{GOAL_PREFIX} {step.goal}" for step in steps
    )


@dataclass(frozen=True, slots=True)
class FunnelView:
    funnel: FunnelOut
    definition_version: int


async def funnel_view(
    *, engine: AsyncEngine, site_id: str, days: Days, steps: list[FunnelStep], timeout_s: float
) -> FunnelView:
    definition = await answering_definition(engine=engine, site_id=site_id, version=None)
    found = await funnel(
        engine=engine,
        report=FunnelIn(site_id=site_id, date_range=(days.first, days.last), steps=steps),
        timeout_s=timeout_s,
    )
    return FunnelView(funnel=found, definition_version=definition.version)


# --- retention -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetentionView:
    retention: RetentionOut
    rates: list[list[float | None]]  # per cohort, per week: returned / cohort visitors
    definition_version: int


def cohort_rates(visitors: int, returned: list[int | None]) -> list[float | None]:
    """Each week's returning share of the cohort (None where unknown or the cohort is empty)."""
    return [None if n is None or not visitors else round(n / visitors, 4) for n in returned]


async def retention_view(
    *, engine: AsyncEngine, site_id: str, days: Days, timeout_s: float
) -> RetentionView:
    definition = await answering_definition(engine=engine, site_id=site_id, version=None)
    found = await retention(
        engine=engine,
        report=RetentionIn(site_id=site_id, date_range=(days.first, days.last)),
        timeout_s=timeout_s,
    )
    return RetentionView(
        retention=found,
        rates=[cohort_rates(c.visitors, c.returned) for c in found.cohorts],
        definition_version=definition.version,
    )


# --- the engagement definition ---------------------------------------------------------------


async def definition_history(*, engine: AsyncEngine, site_id: str) -> list[Definition]:
    """Every version, newest (the one answering views now) first, version 0 last."""
    return await definition_versions(engine=engine, site_id=site_id)


# --- consent ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerStatus:
    """The result of recomputing the site's consent ledger chain (`overt ledger verify`)."""

    intact: bool
    rows: int
    checkpoints: int
    problems: list[str]
    checked_at: datetime


# The consent service owns the ledger and its verification; the API never imports it. The
# composition root (services.cli) registers the consent service's verifier here, so the
# dashboard shows a verification run now, by the one code that verifies. Without one (an
# API process composed without it) the view says verification is not available here.
LedgerVerifier = Callable[[AsyncEngine, bytes, str], Awaitable[LedgerStatus]]
LEDGER_VERIFIERS: list[LedgerVerifier] = []


def register_ledger_verifier(verifier: LedgerVerifier) -> None:
    """Let the consent view verify the ledger with this (once, however often called)."""
    if verifier not in LEDGER_VERIFIERS:
        LEDGER_VERIFIERS.append(verifier)


@dataclass(frozen=True, slots=True)
class ConsentView:
    rates: list[DecisionRates]
    gpc: GpcShare
    requests: list[SubjectRequest]
    open_requests: int
    overdue_requests: int
    ledger: LedgerStatus | None  # None: not asked for, or no verifier in this process
    can_verify: bool  # a verifier is composed into this process
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


async def ledger_status(*, engine: AsyncEngine, secret: bytes, site_id: str) -> LedgerStatus | None:
    """The ledger verified now (it reads every row: asked for, not on every page view), or
    None when no verifier is composed into this process."""
    return await LEDGER_VERIFIERS[0](engine, secret, site_id) if LEDGER_VERIFIERS else None


async def consent_view(
    *,
    engine: AsyncEngine,
    secret: bytes,
    site_id: str,
    days: Days,
    verify: bool = True,
    now: datetime | None = None,
) -> ConsentView:
    """Opt-in and refusal rates per purpose and notice version, the GPC share, requests with
    their deadlines, and (with `verify`) whether the ledger verifies."""
    now = now or datetime.now(UTC)
    start, end = day_bounds(days.first, days.last, days.timezone)
    async with engine.connect() as conn:
        rates = await decision_rates(conn=conn, site_id=site_id, start=start, end=end)
        share = await gpc_share(conn=conn, site_id=site_id, start=start, end=end)
        requests = await subject_requests(conn=conn, site_id=site_id)
    ledger = await ledger_status(engine=engine, secret=secret, site_id=site_id) if verify else None
    return ConsentView(
        rates=rates,
        gpc=share,
        requests=requests,
        open_requests=sum(1 for r in requests if r.completed_at is None),
        overdue_requests=sum(1 for r in requests if r.overdue(now)),
        ledger=ledger,
        can_verify=bool(LEDGER_VERIFIERS),
        now=now,
    )


# --- contacts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactsView:
    contacts: list[Contact]
    definition_version: int
    consented: int  # subjects with active identification consent (identity linked or not)


async def contacts_view(*, engine: AsyncEngine, secret: bytes, site_id: str) -> ContactsView:
    """Named consented contacts, highest score first (people.contacts, as GET /contacts)."""
    version, contacts = await list_contacts(engine=engine, secret=secret, site_id=site_id)
    async with engine.connect() as conn:
        consented = len(await identified_subjects(conn=conn, site_id=site_id))
    return ContactsView(contacts=contacts, definition_version=version, consented=consented)
