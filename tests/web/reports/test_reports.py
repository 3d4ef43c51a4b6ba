"""E-mail reports and traffic alerts on both backends, mailed to a real SMTP server on
loopback (and alerts posted to a local Slack-like receiver): due once per period, figures
as POST /v1/query answers them, aggregate only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import delete, insert, select

from services.api.web.accounts.models import web_memberships
from services.api.web.reports.models import report_subscriptions, traffic_alert_rules
from services.api.web.reports.service import (
    Choices,
    alerts_pass,
    choose_reports,
    last_whole_period,
    reports_pass,
    traffic_change,
)
from shared.mail import MailSettings
from shared.settings import Settings
from tests.helpers.overt import Overt, overt_with
from tests.helpers.people import auth, full_key, receiver
from tests.helpers.smtp import Inbox, smtp_server, text_of
from tests.helpers.traffic import traffic
from tests.helpers.web import member

pytestmark = pytest.mark.anyio


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, MailSettings]]:
    with smtp_server() as server:
        yield server


async def subscribe(overt: Overt, email: str, **wants: bool) -> int:
    """A member of the site (a viewer) who chose these reports; their user id."""
    engine = overt.resources.engine
    user_id = await member(engine, email, overt.site.id, role="viewer")
    await choose_reports(
        engine=engine, site_id=overt.site.id, user_id=user_id, choices=Choices(**wants)
    )
    return user_id


def next_monday(now: datetime) -> datetime:
    """A moment of next Monday (UTC site): its last whole week is this one, today included."""
    return (now + timedelta(days=7 - now.weekday())).replace(hour=9)


def test_periods_are_the_last_whole_week_and_month() -> None:
    assert last_whole_period("weekly", date(2026, 12, 6)) == (
        date(2026, 11, 23),
        date(2026, 11, 29),
    )
    assert last_whole_period("weekly", date(2026, 12, 7)) == (date(2026, 11, 30), date(2026, 12, 6))
    assert last_whole_period("monthly", date(2026, 12, 1)) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
    )
    assert last_whole_period("monthly", date(2026, 3, 31)) == (date(2026, 2, 1), date(2026, 2, 28))


def test_a_spike_or_a_drop_needs_the_change_and_enough_visitors() -> None:
    day = date(2026, 12, 6)
    spike = traffic_change(day=day, visitors=300, before=[100] * 7, change_pct=50, min_visitors=20)
    assert spike is not None
    assert (spike.kind, spike.change_pct) == ("spike", 200)
    drop = traffic_change(day=day, visitors=40, before=[100] * 7, change_pct=50, min_visitors=20)
    assert drop is not None
    assert (drop.kind, drop.change_pct) == ("drop", -60)
    assert (
        traffic_change(day=day, visitors=120, before=[100] * 7, change_pct=50, min_visitors=20)
        is None
    )
    assert (
        traffic_change(day=day, visitors=9, before=[3] * 7, change_pct=50, min_visitors=20) is None
    )
    assert traffic_change(day=day, visitors=9, before=[], change_pct=50, min_visitors=1) is None


async def test_weekly_report_is_mailed_once_with_the_query_engines_figures(
    overt: Overt, smtp: tuple[Inbox, MailSettings]
) -> None:
    inbox, mail_settings = smtp
    await traffic(overt)  # see tests/api/test_query_engine.py: 17 visitors today
    await subscribe(overt, "owner@example.com", weekly=True)
    await subscribe(overt, "viewer@example.com", monthly=True)
    when = next_monday(datetime.now(UTC))
    sent = await reports_pass(resources=overt.resources, mail_settings=mail_settings, now=when)
    assert sent == 2  # the owner's week, and the viewer's last whole month (never sent yet)
    [monthly] = inbox.to("viewer@example.com")
    month_first, month_last = last_whole_period("monthly", when.date())
    assert monthly["Subject"] == (
        f"example.com: monthly report, {month_first.isoformat()} to {month_last.isoformat()}"
    )
    [message] = inbox.to("owner@example.com")
    first, last = last_whole_period("weekly", when.date())
    assert first <= datetime.now(UTC).date() <= last
    assert message["Subject"] == (
        f"example.com: weekly report, {first.isoformat()} to {last.isoformat()}"
    )
    body = text_of(message)
    key = await full_key(overt)
    answer = (
        await overt.client.post(
            "/v1/query",
            json={
                "site_id": overt.site.id,
                "metrics": ["visitors", "visits", "pageviews"],
                "date_range": [first.isoformat(), last.isoformat()],
                "comparisons": {"mode": "previous_period"},
            },
            headers=auth(key),
        )
    ).json()
    visitors, visits, pageviews = answer["results"][0]["metrics"]
    assert visitors == 17
    assert f"Visitors: {visitors:,} (+100 %)" in body
    assert f"Visits: {visits:,}" in body
    assert f"Pageviews: {pageviews:,}" in body
    assert "      6  Google" in body
    assert "/pricing" in body
    assert "Aggregate figures only" in body
    # Nothing that singles out a visitor: no user agent, no address, no visitor hash.
    assert "Visitor-a0" not in body
    assert "203.0.113.7" not in body

    again = await reports_pass(resources=overt.resources, mail_settings=mail_settings, now=when)
    assert again == 0
    assert len(inbox.messages) == 2
    async with overt.resources.engine.connect() as conn:
        stored = (await conn.execute(select(report_subscriptions.c.weekly_sent))).scalars().all()
    assert first.isoformat() in stored


async def test_without_an_smtp_host_nothing_is_mailed_or_marked(overt: Overt) -> None:
    await subscribe(overt, "owner@example.com", weekly=True, monthly=True)
    sent = await reports_pass(
        resources=overt.resources, mail_settings=MailSettings(host=None), now=datetime.now(UTC)
    )
    assert sent == 0
    async with overt.resources.engine.connect() as conn:
        row = (await conn.execute(select(report_subscriptions))).one()
    assert (row.weekly_sent, row.monthly_sent) == (None, None)


async def test_a_spike_is_mailed_and_posted_to_slack_once_a_day(
    settings: Settings, smtp: tuple[Inbox, MailSettings]
) -> None:
    """Today's 17 visitors against 7 empty days: +100 % (from nothing), above 5 visitors.
    Slack listens on loopback, which the webhook tests' setting allows."""
    inbox, mail_settings = smtp
    async with (
        overt_with(settings, webhook_allow_private=True) as overt,
        receiver() as slack,
        httpx.AsyncClient() as client,
    ):
        await traffic(overt)
        await subscribe(overt, "owner@example.com", alerts=True)
        await subscribe(overt, "quiet@example.com", weekly=True)
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        async with overt.resources.engine.begin() as conn:
            await conn.execute(
                insert(traffic_alert_rules).values(
                    site_id=overt.site.id,
                    change_pct=50,
                    min_visitors=5,
                    slack_url=slack.url,
                    updated_at=datetime.now(UTC),
                )
            )
        sent = await alerts_pass(
            resources=overt.resources, mail_settings=mail_settings, client=client, now=tomorrow
        )
        assert sent == 2
        [message] = inbox.messages
        today = datetime.now(UTC).date().isoformat()
        assert message["To"] == "owner@example.com"
        assert message["Subject"] == f"example.com: traffic spike on {today} (+100 %)"
        assert "17 visitors" in text_of(message)
        [posted] = slack.requests
        assert "traffic spike" in posted.json()["text"]
        assert "17 visitors" in posted.json()["text"]

        again = await alerts_pass(
            resources=overt.resources, mail_settings=mail_settings, client=client, now=tomorrow
        )
        assert again == 0
        assert (len(inbox.messages), len(slack.requests)) == (1, 1)


async def test_an_ordinary_day_alerts_nobody_but_is_checked(
    overt: Overt, smtp: tuple[Inbox, MailSettings]
) -> None:
    inbox, mail_settings = smtp
    await traffic(overt)
    await subscribe(overt, "owner@example.com", alerts=True)
    async with httpx.AsyncClient() as client:
        sent = await alerts_pass(
            resources=overt.resources,
            mail_settings=mail_settings,
            client=client,
            now=datetime.now(UTC) + timedelta(days=1),
        )
    assert sent == 0  # 17 visitors is below the default 20 on both sides
    assert inbox.messages == []
    async with overt.resources.engine.connect() as conn:
        rule = (await conn.execute(select(traffic_alert_rules))).one()
    assert (rule.change_pct, rule.min_visitors) == (50, 20)
    assert rule.checked_day == datetime.now(UTC).date().isoformat()


async def test_reports_stop_with_the_membership(
    overt: Overt, smtp: tuple[Inbox, MailSettings]
) -> None:
    """Removed from the site's team, a user gets no more reports: the subscription goes
    with the membership (the same for a deleted user or site)."""
    inbox, mail_settings = smtp
    user_id = await subscribe(overt, "former@example.com", weekly=True)
    async with overt.resources.engine.begin() as conn:
        await conn.execute(
            delete(web_memberships).where(
                web_memberships.c.user_id == user_id, web_memberships.c.site_id == overt.site.id
            )
        )
    when = next_monday(datetime.now(UTC))
    assert await reports_pass(resources=overt.resources, mail_settings=mail_settings, now=when) == 0
    assert inbox.messages == []
    async with overt.resources.engine.connect() as conn:
        assert (await conn.execute(select(report_subscriptions))).all() == []
