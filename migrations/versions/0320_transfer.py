"""Data out and in: transfer jobs, their files in chunks, and the imported reports.

One table per report of Plausible's CSV export (`imported_visitors`, `imported_sources`...),
their rows tagged with the import they came from, apart from the native events. The column
lists are frozen here as they were at this revision (services/api/transfer/reports.py is
the living description).

Revision ID: 0320
Revises: 0331
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0320"
down_revision = "0331"
branch_labels = None
depends_on = None

STATS = "visitors:n visits:n visit_duration:n bounces:n pageviews:n"
REPORTS = {
    "imported_visitors": "date:d visitors:n pageviews:n bounces:n visits:n visit_duration:n",
    "imported_sources": "date:d source:s referrer:s utm_source:s utm_medium:s utm_campaign:s "
    "utm_content:s utm_term:s pageviews:n visitors:n visits:n visit_duration:n bounces:n",
    "imported_pages": "date:d hostname:s page:s visits:n visitors:n pageviews:n scroll_depth:o "
    "pageleave_visitors:n",
    "imported_entry_pages": "date:d entry_page:s visitors:n entrances:n visit_duration:n "
    "bounces:n pageviews:n",
    "imported_exit_pages": "date:d exit_page:s visitors:n visit_duration:n exits:n bounces:n "
    "pageviews:n",
    "imported_custom_events": "date:d name:s link_url:s path:s visitors:n events:n",
    "imported_locations": f"date:d country:s region:s city:g {STATS}",
    "imported_devices": f"date:d device:s {STATS}",
    "imported_browsers": f"date:d browser:s browser_version:s {STATS}",
    "imported_operating_systems": "date:d operating_system:s operating_system_version:s " + STATS,
}
LONG_TEXT = {"page", "entry_page", "exit_page", "referrer"}


def _column(spec: str) -> sa.Column[object]:
    name, kind = spec.split(":")
    if kind == "d":
        return sa.Column(name, sa.Date(), nullable=False)
    if kind == "s":
        return sa.Column(name, sa.String(2048 if name in LONG_TEXT else 256), nullable=False)
    return sa.Column(name, sa.BigInteger(), nullable=kind == "o")


def upgrade() -> None:
    op.create_table(
        "transfer_jobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=True),
        sa.Column("last_day", sa.Date(), nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("progress", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(512), nullable=True),
        sa.Column("runner", sa.String(64), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_transfer_jobs_site_id_sites", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_transfer_jobs"),
    )
    op.create_index(
        "ix_transfer_jobs_site_id_created_at", "transfer_jobs", ["site_id", "created_at"]
    )
    op.create_table(
        "transfer_chunks",
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["transfer_jobs.id"],
            name="fk_transfer_chunks_job_id_transfer_jobs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name="pk_transfer_chunks"),
    )
    for table, spec in REPORTS.items():
        op.create_table(
            table,
            sa.Column("site_id", sa.String(32), nullable=False),
            sa.Column("import_id", sa.String(32), nullable=False),
            sa.Column("line", sa.BigInteger(), autoincrement=False, nullable=False),
            *(_column(column) for column in spec.split()),
            sa.ForeignKeyConstraint(
                ["site_id"], ["sites.id"], name=f"fk_{table}_site_id_sites", ondelete="CASCADE"
            ),
            sa.ForeignKeyConstraint(
                ["import_id"],
                ["transfer_jobs.id"],
                name=f"fk_{table}_import_id_transfer_jobs",
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("import_id", "line", name=f"pk_{table}"),
        )
        op.create_index(f"ix_{table}_site_id_date", table, ["site_id", "date"])


def downgrade() -> None:
    for table in reversed(REPORTS):
        op.drop_table(table)
    op.drop_table("transfer_chunks")
    op.drop_index("ix_transfer_jobs_site_id_created_at", table_name="transfer_jobs")
    op.drop_table("transfer_jobs")
