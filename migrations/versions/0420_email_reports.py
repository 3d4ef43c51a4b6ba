"""E-mail reports and traffic alerts: per member of a site (a user's membership), which
reports they get and the last period each was mailed for; per site, when a day is a spike or
a drop and the Slack webhook that hears of it, with the last day checked.

Revision ID: 0420
Revises: 0430
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0420"
down_revision = "0430"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_subscriptions",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("weekly", sa.Boolean(), nullable=False),
        sa.Column("monthly", sa.Boolean(), nullable=False),
        sa.Column("alerts", sa.Boolean(), nullable=False),
        sa.Column("weekly_sent", sa.String(10), nullable=True),
        sa.Column("monthly_sent", sa.String(10), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        # The user's membership of the site: reports stop with it (removed from the team, or
        # the user or the site deleted), and the address is the user's own, read when sent.
        sa.ForeignKeyConstraint(
            ["user_id", "site_id"],
            ["web_memberships.user_id", "web_memberships.site_id"],
            name="fk_report_subscriptions_membership",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "user_id", name="pk_report_subscriptions"),
    )
    op.create_table(
        "traffic_alert_rules",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("change_pct", sa.Integer(), nullable=False),
        sa.Column("min_visitors", sa.Integer(), nullable=False),
        sa.Column("slack_url", sa.String(2048), nullable=True),
        sa.Column("checked_day", sa.String(10), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name="fk_traffic_alert_rules_site_id_sites",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", name="pk_traffic_alert_rules"),
    )


def downgrade() -> None:
    op.drop_table("traffic_alert_rules")
    op.drop_table("report_subscriptions")
