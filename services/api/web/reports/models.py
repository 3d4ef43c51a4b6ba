"""The tables of e-mail reports and traffic alerts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, ForeignKeyConstraint, Integer, String
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, table_of


class ReportSubscription(SQLModel, table=True):
    """What one member of a site gets by e-mail (at the user's address, read when sent):
    weekly and / or monthly reports, traffic alerts; and the last period each report was
    sent for (so each is sent once). Gone with the membership."""

    __tablename__ = "report_subscriptions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["user_id", "site_id"],
            ["web_memberships.user_id", "web_memberships.site_id"],
            name="fk_report_subscriptions_membership",
            ondelete="CASCADE",
        ),
    )

    site_id: str = Field(sa_column=Column("site_id", String(32), primary_key=True))
    user_id: int = Field(sa_column=Column("user_id", Integer, primary_key=True))
    weekly: bool = Field(sa_column=Column("weekly", Boolean, nullable=False))
    monthly: bool = Field(sa_column=Column("monthly", Boolean, nullable=False))
    alerts: bool = Field(sa_column=Column("alerts", Boolean, nullable=False))
    # The first day of the last period mailed (ISO date), None before the first.
    weekly_sent: str | None = Field(
        default=None, sa_column=Column("weekly_sent", String(10), nullable=True)
    )
    monthly_sent: str | None = Field(
        default=None, sa_column=Column("monthly_sent", String(10), nullable=True)
    )
    updated_at: datetime = Field(sa_column=Column("updated_at", UtcDateTime(), nullable=False))


class TrafficAlertRule(SQLModel, table=True):
    """When a site's day counts as a spike or a drop, where else to say so (Slack), and the
    last day alerted about (one alert a day at most)."""

    __tablename__ = "traffic_alert_rules"

    site_id: str = Field(
        sa_column=Column(
            "site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
        )
    )
    change_pct: int = Field(sa_column=Column("change_pct", Integer, nullable=False))
    min_visitors: int = Field(sa_column=Column("min_visitors", Integer, nullable=False))
    slack_url: str | None = Field(
        default=None, sa_column=Column("slack_url", String(2048), nullable=True)
    )
    checked_day: str | None = Field(
        default=None, sa_column=Column("checked_day", String(10), nullable=True)
    )
    updated_at: datetime = Field(sa_column=Column("updated_at", UtcDateTime(), nullable=False))


report_subscriptions = table_of(ReportSubscription)
traffic_alert_rules = table_of(TrafficAlertRule)
