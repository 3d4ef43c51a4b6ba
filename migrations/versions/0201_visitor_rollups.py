"""Rollups count visitors exactly: per-day visitor sets and first-sighting counters.

`site_hourly.visitors` / `page_hourly.visitors`: visitors first seen that UTC day (on that
path) in that hour, so sums over whole UTC days are distinct visitor counts. Existing
events are counted here once (streamed in time order); the per-day sets are filled for the
last two days only, which is all the worker needs to continue.

Also an index for 'returning visitor' lookups (earlier session of the same analytics id).

Revision ID: 0201
Revises: 0200
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0201"
down_revision = "0200"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("site_hourly", "page_hourly"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("visitors", sa.BigInteger(), nullable=False, server_default="0")
            )
    op.create_table(
        "visitor_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("visitor_hash", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "site_id", "visitor_hash", name="pk_visitor_days"),
    )
    op.create_table(
        "page_visitor_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("path", sa.String(2048), nullable=False),
        sa.Column("visitor_hash", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "site_id", "path", "visitor_hash", name="pk_page_visitor_days"
        ),
    )
    op.create_index(
        "ix_sessions_site_id_analytics_id_started_at",
        "sessions",
        ["site_id", "analytics_id", "started_at"],
    )
    _backfill()


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _backfill() -> None:
    bind = op.get_bind()
    events = sa.table(
        "events",
        sa.column("site_id", sa.String()),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        sa.column("visitor_hash", sa.BigInteger()),
        sa.column("path", sa.String()),
    )
    keep_from = datetime.now(UTC).date() - timedelta(days=1)
    site_counts: Counter[tuple[str, datetime]] = Counter()
    page_counts: Counter[tuple[str, datetime, str]] = Counter()
    seen_day: date | None = None
    seen_sites: set[tuple[str, int]] = set()
    seen_pages: set[tuple[str, str, int]] = set()
    recent_sites: list[dict[str, Any]] = []
    recent_pages: list[dict[str, Any]] = []
    # Streamed by a statement option: set on the Connection it would stick and break
    # Alembic's own version UPDATE afterwards (rowcount -1).
    rows = bind.execute(
        sa.select(events.c.site_id, events.c.occurred_at, events.c.visitor_hash, events.c.path)
        .order_by(events.c.occurred_at)
        .execution_options(yield_per=10_000)
    )
    for site_id, occurred_at, visitor, path in rows:
        moment = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
        day = moment.date()
        if day != seen_day:
            seen_day, seen_sites, seen_pages = day, set(), set()
        if (site_id, visitor) not in seen_sites:
            seen_sites.add((site_id, visitor))
            site_counts[(site_id, _hour(moment))] += 1
            if day >= keep_from:
                recent_sites.append({"day": day, "site_id": site_id, "visitor_hash": visitor})
        if (site_id, path, visitor) not in seen_pages:
            seen_pages.add((site_id, path, visitor))
            page_counts[(site_id, _hour(moment), path)] += 1
            if day >= keep_from:
                recent_pages.append(
                    {"day": day, "site_id": site_id, "path": path, "visitor_hash": visitor}
                )
    site_hourly = sa.table(
        "site_hourly",
        sa.column("site_id", sa.String()),
        sa.column("hour", sa.DateTime(timezone=True)),
        sa.column("visitors", sa.BigInteger()),
    )
    page_hourly = sa.table(
        "page_hourly",
        sa.column("site_id", sa.String()),
        sa.column("hour", sa.DateTime(timezone=True)),
        sa.column("path", sa.String()),
        sa.column("visitors", sa.BigInteger()),
    )
    if site_counts:
        bind.execute(
            site_hourly.update()
            .where(
                site_hourly.c.site_id == sa.bindparam("b_site"),
                site_hourly.c.hour == sa.bindparam("b_hour"),
            )
            .values(visitors=sa.bindparam("b_visitors")),
            [
                {"b_site": site, "b_hour": hour, "b_visitors": n}
                for (site, hour), n in site_counts.items()
            ],
        )
    if page_counts:
        bind.execute(
            page_hourly.update()
            .where(
                page_hourly.c.site_id == sa.bindparam("b_site"),
                page_hourly.c.hour == sa.bindparam("b_hour"),
                page_hourly.c.path == sa.bindparam("b_path"),
            )
            .values(visitors=sa.bindparam("b_visitors")),
            [
                {"b_site": site, "b_hour": hour, "b_path": path, "b_visitors": n}
                for (site, hour, path), n in page_counts.items()
            ],
        )
    if recent_sites:
        op.bulk_insert(_set_table("visitor_days", with_path=False), recent_sites)
    if recent_pages:
        op.bulk_insert(_set_table("page_visitor_days", with_path=True), recent_pages)


def _set_table(name: str, *, with_path: bool) -> sa.TableClause:
    path = [sa.column("path", sa.String())] if with_path else []
    return sa.table(
        name,
        sa.column("day", sa.Date()),
        sa.column("site_id", sa.String()),
        *path,
        sa.column("visitor_hash", sa.BigInteger()),
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_site_id_analytics_id_started_at", table_name="sessions")
    op.drop_table("page_visitor_days")
    op.drop_table("visitor_days")
    for table in ("page_hourly", "site_hourly"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("visitors")
