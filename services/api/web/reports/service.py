"""E-mail reports and traffic alerts: what they say (aggregate only) and when they are due.

- A weekly report covers the last whole week (Monday to Sunday) in the site's time zone, a
  monthly one the last whole month; each is mailed once per user and period, the first
  pass after the period ends. Its figures are POST /v1/query's for the same days, with
  `comparisons: previous_period` (the change is the engine's), and the top sources and
  pages under the same k-anonymity (folded rows say so in the mail).
- A traffic alert compares the site's visitors on its last whole day with the mean of the
  seven days before: a change of at least `change_pct` percent, when either side reaches
  `min_visitors` (small numbers swing without meaning), is a spike or a drop. Each day is
  checked once per site; subscribers who asked for alerts get a mail, and the site's Slack
  webhook, if it has one, a message.

Nothing about a visitor is in either: counts, rates, sources and pages only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import httpx
from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.days import local_today
from services.api.people.exceptions import UnsafeTarget
from services.api.people.slack import escape
from services.api.people.targets import check_target, pinned
from services.api.stats.query import answer_query
from services.api.stats.schemas import Comparison, Metric, QueryIn
from services.api.web.accounts.models import web_users
from services.api.web.reports.models import report_subscriptions, traffic_alert_rules
from shared.dialect import upsert
from shared.mail import MailSettings, mail
from shared.runtime import Resources
from shared.sites import Site, get_site

log = logging.getLogger("overt.api.reports")

Frequency = Literal["weekly", "monthly"]
DEFAULT_CHANGE_PCT = 50
DEFAULT_MIN_VISITORS = 20
BASELINE_DAYS = 7
TOP = 5


# --- when ------------------------------------------------------------------------------------


def last_whole_period(frequency: Frequency, today: date) -> tuple[date, date]:
    """The last whole week (Monday to Sunday) or calendar month before `today`."""
    if frequency == "weekly":
        monday = today - timedelta(days=today.weekday())
        return monday - timedelta(days=7), monday - timedelta(days=1)
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


# --- what a report says ----------------------------------------------------------------------

TILES = (
    (Metric.visitors, "Visitors"),
    (Metric.visits, "Visits"),
    (Metric.pageviews, "Pageviews"),
    (Metric.engagement_rate, "Engagement rate"),
    (Metric.bounce_rate, "Bounce rate"),
    (Metric.conversions, "Conversions"),
)
RATES = {Metric.engagement_rate}  # fractions (0..1); bounce_rate is already a percentage


@dataclass(frozen=True, slots=True)
class Tile:
    label: str
    value: int | float | None
    change: int | float | None  # percent (for bounce rate: points), as /v1/query says


@dataclass(frozen=True, slots=True)
class ReportFigures:
    site: Site
    frequency: Frequency
    first: date
    last: date
    tiles: list[Tile]
    sources: list[tuple[str, int]]
    pages: list[tuple[str, int]]
    notes: list[str]
    definition_version: int


async def report_figures(
    *, engine: AsyncEngine, site: Site, frequency: Frequency, today: date, timeout_s: float
) -> ReportFigures:
    """The report of the last whole period, from the query engine."""
    first, last = last_whole_period(frequency, today)

    async def ask(**query: Any) -> Any:
        return await answer_query(
            engine=engine,
            timeout_s=timeout_s,
            query=QueryIn.model_validate(
                {"site_id": site.id, "date_range": (first, last), **query}
            ),
        )

    totals = await ask(
        metrics=[metric for metric, _ in TILES],
        comparisons=Comparison(mode="previous_period"),
    )
    row = totals.results[0] if totals.results else None
    tiles = [
        Tile(
            label=label,
            value=row.metrics[index] if row else None,
            change=row.comparison.change[index] if row and row.comparison else None,
        )
        for index, (_, label) in enumerate(TILES)
    ]
    sources = await ask(metrics=[Metric.visitors], dimensions=["source"], limit=TOP)
    pages = await ask(metrics=[Metric.visitors], dimensions=["page"], limit=TOP)
    return ReportFigures(
        site=site,
        frequency=frequency,
        first=first,
        last=last,
        tiles=tiles,
        sources=[(r.dimensions[0], int(r.metrics[0] or 0)) for r in sources.results],
        pages=[(r.dimensions[0], int(r.metrics[0] or 0)) for r in pages.results],
        notes=list(sources.meta.notes),
        definition_version=totals.meta.definition_version,
    )


def _value(metric: Metric, value: int | float | None) -> str:
    if value is None:
        return "n/a"
    if metric in RATES:
        return f"{value * 100:.1f} %"
    if metric is Metric.bounce_rate:
        return f"{value:.0f} %"
    return f"{int(value):,}"


def _change(metric: Metric, change: int | float | None) -> str:
    if change is None:
        return ""
    unit = " points" if metric is Metric.bounce_rate else " %"
    return f" ({'+' if change > 0 else ''}{change}{unit})"


def report_mail(figures: ReportFigures, base_url: str) -> tuple[str, str]:
    """The report as a mail's subject and plain-text body."""
    period = "Week" if figures.frequency == "weekly" else "Month"
    span = f"{figures.first.isoformat()} to {figures.last.isoformat()}"
    subject = f"{figures.site.domain}: {period.lower()}ly report, {span}"
    lines = [
        f"{period} of {span} ({figures.site.timezone}), against the {period.lower()} before.",
        "",
    ]
    for (metric, _), tile in zip(TILES, figures.tiles, strict=True):
        lines.append(f"{tile.label}: {_value(metric, tile.value)}{_change(metric, tile.change)}")
    for title, rows in (("Top sources", figures.sources), ("Top pages", figures.pages)):
        lines += ["", f"{title} (visitors):"]
        lines += [f"  {visitors:>7,}  {name}" for name, visitors in rows] or ["  none"]
    lines += [f"Note: {note}" for note in figures.notes]
    lines += [
        "",
        f"Engagement as defined by version {figures.definition_version} of the site's "
        "definition. Aggregate figures only: nothing in this mail is about one visitor.",
        f"Dashboard: {base_url}/app/sites/{figures.site.id}",
        f"Stop these mails: {base_url}/app/sites/{figures.site.id}/reports",
    ]
    return subject, "\n".join(lines) + "\n"


# --- spikes and drops ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrafficChange:
    day: date
    visitors: int
    baseline: float  # mean visitors of the BASELINE_DAYS days before
    change_pct: int  # rounded, signed

    @property
    def kind(self) -> str:
        return "spike" if self.change_pct > 0 else "drop"


def traffic_change(
    *, day: date, visitors: int, before: list[int], change_pct: int, min_visitors: int
) -> TrafficChange | None:
    """`day` against the mean of the days `before` it: a change of at least `change_pct`
    percent when either side reaches `min_visitors`; None otherwise (or with no baseline)."""
    if not before:
        return None
    baseline = sum(before) / len(before)
    if max(baseline, visitors) < min_visitors:
        return None
    if baseline == 0:
        return TrafficChange(day, visitors, baseline, 100)
    change = round((visitors - baseline) / baseline * 100)
    return TrafficChange(day, visitors, baseline, change) if abs(change) >= change_pct else None


def alert_text(site: Site, found: TrafficChange) -> tuple[str, str]:
    sign = "+" if found.change_pct > 0 else ""
    subject = (
        f"{site.domain}: traffic {found.kind} on {found.day.isoformat()} "
        f"({sign}{found.change_pct} %)"
    )
    body = (
        f"{site.domain} had {found.visitors:,} visitors on {found.day.isoformat()} "
        f"({site.timezone}), {sign}{found.change_pct} % against the mean of the "
        f"{BASELINE_DAYS} days before ({found.baseline:,.1f}). Aggregate figures only.\n"
    )
    return subject, body


async def daily_visitors(
    *, engine: AsyncEngine, site_id: str, first: date, last: date, timeout_s: float
) -> dict[date, int]:
    """Visitors per local day, as POST /v1/query's time:day answers (missing days: 0)."""
    answer = await answer_query(
        engine=engine,
        timeout_s=timeout_s,
        query=QueryIn(
            site_id=site_id,
            metrics=[Metric.visitors],
            date_range=(first, last),
            dimensions=["time:day"],
            limit=1000,
        ),
    )
    found = {
        date.fromisoformat(r.dimensions[0][:10]): int(r.metrics[0] or 0) for r in answer.results
    }
    return {
        first + timedelta(days=n): found.get(first + timedelta(days=n), 0)
        for n in range((last - first).days + 1)
    }


def _with_address(statement: Select[Any]) -> Select[Any]:
    """A subscription with its user's address, as the user's account has it now."""
    return statement.add_columns(web_users.c.email).join(
        web_users, web_users.c.id == report_subscriptions.c.user_id
    )


# --- the passes ------------------------------------------------------------------------------

Mailer = Callable[[MailSettings, str, str, str], Awaitable[None]]


async def reports_pass(
    *,
    resources: Resources,
    mail_settings: MailSettings,
    now: datetime | None = None,
    send: Mailer = mail,
) -> int:
    """Mail every report that is due (once per user, site and period); returns how many."""
    if mail_settings.host is None:
        return 0
    now = now or datetime.now(UTC)
    engine = resources.engine
    async with engine.connect() as conn:
        rows = (await conn.execute(_with_address(select(report_subscriptions)))).all()
    sent = 0
    figures: dict[tuple[str, str, date], ReportFigures] = {}
    for row in rows:
        site = await get_site(engine=engine, site_id=row.site_id)
        if site is None:
            continue
        today = local_today(site.timezone, now)
        due: tuple[tuple[Frequency, bool, str], ...] = (
            ("weekly", row.weekly, "weekly_sent"),
            ("monthly", row.monthly, "monthly_sent"),
        )
        for frequency, wanted, column in due:
            first, _ = last_whole_period(frequency, today)
            if not wanted or getattr(row, column) == first.isoformat():
                continue
            key = (site.id, frequency, first)
            if key not in figures:
                figures[key] = await report_figures(
                    engine=engine,
                    site=site,
                    frequency=frequency,
                    today=today,
                    timeout_s=resources.settings.query_timeout_s,
                )
            subject, body = report_mail(figures[key], resources.settings.base_url)
            await send(mail_settings, row.email, subject, body)
            async with engine.begin() as conn:
                await conn.execute(
                    update(report_subscriptions)
                    .where(
                        report_subscriptions.c.site_id == row.site_id,
                        report_subscriptions.c.user_id == row.user_id,
                    )
                    .values({column: first.isoformat()})
                )
            sent += 1
    return sent


async def alerts_pass(
    *,
    resources: Resources,
    mail_settings: MailSettings,
    client: httpx.AsyncClient,
    now: datetime | None = None,
    send: Mailer = mail,
) -> int:
    """Check each site with alert subscribers or a rule for its last whole day, once; alert
    on a spike or a drop. Returns how many alerts went out (mails and Slack messages)."""
    now = now or datetime.now(UTC)
    engine = resources.engine
    async with engine.connect() as conn:
        rules = {row.site_id: row for row in await conn.execute(select(traffic_alert_rules))}
        subscribers: dict[str, list[str]] = {}
        for row in await conn.execute(
            _with_address(select(report_subscriptions.c.site_id)).where(
                report_subscriptions.c.alerts.is_(True)
            )
        ):
            subscribers.setdefault(row.site_id, []).append(row.email)
    if mail_settings.host is None:
        subscribers = {}
    sent = 0
    for site_id in sorted(set(rules) | set(subscribers)):
        site = await get_site(engine=engine, site_id=site_id)
        if site is None:
            continue
        rule = rules.get(site_id)
        day = local_today(site.timezone, now) - timedelta(days=1)
        if rule is not None and rule.checked_day == day.isoformat():
            continue
        counts = await daily_visitors(
            engine=engine,
            site_id=site_id,
            first=day - timedelta(days=BASELINE_DAYS),
            last=day,
            timeout_s=resources.settings.query_timeout_s,
        )
        found = traffic_change(
            day=day,
            visitors=counts[day],
            before=[counts[d] for d in sorted(counts) if d < day],
            change_pct=rule.change_pct if rule else DEFAULT_CHANGE_PCT,
            min_visitors=rule.min_visitors if rule else DEFAULT_MIN_VISITORS,
        )
        await _checked(engine, site_id, day, now)
        if found is None:
            continue
        subject, body = alert_text(site, found)
        for email in subscribers.get(site_id, []):
            await send(mail_settings, email, subject, body)
            sent += 1
        if rule is not None and rule.slack_url:
            sent += await _slack(resources, client, rule.slack_url, subject, body)
    return sent


async def _checked(engine: AsyncEngine, site_id: str, day: date, now: datetime) -> None:
    """Note the day as checked (a site without a rule gets the default one)."""
    async with engine.begin() as conn:
        await upsert(
            conn,
            traffic_alert_rules,
            [
                {
                    "site_id": site_id,
                    "change_pct": DEFAULT_CHANGE_PCT,
                    "min_visitors": DEFAULT_MIN_VISITORS,
                    "checked_day": day.isoformat(),
                    "updated_at": now,
                }
            ],
            keys=["site_id"],
            replace=["checked_day", "updated_at"],
        )


async def _slack(
    resources: Resources, client: httpx.AsyncClient, url: str, subject: str, body: str
) -> int:
    """Post the alert to a Slack incoming webhook (checked like every destination's URL)."""
    try:
        address = await check_target(url, allow_private=resources.settings.webhook_allow_private)
    except UnsafeTarget as refused:
        log.warning("traffic alert not posted to Slack: %s", refused.detail)
        return 0
    target, headers, extensions = pinned(url, address)
    text = f"*{escape(subject)}*\n{escape(body)}"
    try:
        response = await client.post(
            target, json={"text": text}, headers=headers, extensions=extensions, timeout=10
        )
    except httpx.HTTPError as exc:
        log.warning("traffic alert not posted to Slack: %s", type(exc).__name__)
        return 0
    if response.status_code >= 300:
        log.warning("traffic alert not posted to Slack: status %d", response.status_code)
        return 0
    return 1


# --- what a user chose -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choices:
    weekly: bool = False
    monthly: bool = False
    alerts: bool = False


async def user_choices(*, engine: AsyncEngine, site_id: str, user_id: int) -> Choices:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(report_subscriptions).where(
                    report_subscriptions.c.site_id == site_id,
                    report_subscriptions.c.user_id == user_id,
                )
            )
        ).first()
    return Choices(row.weekly, row.monthly, row.alerts) if row is not None else Choices()


async def choose_reports(
    *, engine: AsyncEngine, site_id: str, user_id: int, choices: Choices
) -> None:
    """Store what the user gets (nothing at all: the row goes)."""
    now = datetime.now(UTC)
    where = (
        report_subscriptions.c.site_id == site_id,
        report_subscriptions.c.user_id == user_id,
    )
    async with engine.begin() as conn:
        if not (choices.weekly or choices.monthly or choices.alerts):
            await conn.execute(report_subscriptions.delete().where(*where))
            return
        wanted = {"weekly": choices.weekly, "monthly": choices.monthly, "alerts": choices.alerts}
        await upsert(
            conn,
            report_subscriptions,
            [{"site_id": site_id, "user_id": user_id, **wanted, "updated_at": now}],
            keys=["site_id", "user_id"],
            replace=[*wanted, "updated_at"],
        )


@dataclass(frozen=True, slots=True)
class AlertRule:
    change_pct: int = DEFAULT_CHANGE_PCT
    min_visitors: int = DEFAULT_MIN_VISITORS
    slack_url: str | None = None


async def alert_rule(*, engine: AsyncEngine, site_id: str) -> AlertRule:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(traffic_alert_rules).where(traffic_alert_rules.c.site_id == site_id)
            )
        ).first()
    return AlertRule(row.change_pct, row.min_visitors, row.slack_url) if row else AlertRule()


async def store_alert_rule(*, resources: Resources, site_id: str, rule: AlertRule) -> None:
    """Store the site's rule; a Slack URL must pass the destinations' check (public https)."""
    if rule.slack_url:
        await check_target(rule.slack_url, allow_private=resources.settings.webhook_allow_private)
    now = datetime.now(UTC)
    values = {
        "change_pct": rule.change_pct,
        "min_visitors": rule.min_visitors,
        "slack_url": rule.slack_url,
        "updated_at": now,
    }
    async with resources.engine.begin() as conn:
        await upsert(
            conn,
            traffic_alert_rules,
            [{"site_id": site_id, **values}],
            keys=["site_id"],
            replace=list(values),
        )
