"""The tables of transfer: jobs (imports and exports), their files, and imported reports.

Imported rows are kept apart from native data, one table per report of Plausible's CSV
export (reports.py), each row tagged with its import: deleting an import (its job row)
deletes its rows. A job's file (the upload of an import, the zip of an export) is stored in
the database in chunks, so any API process can run the job or serve the file, and a job
survives a restart.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)
from sqlmodel import Field, SQLModel

from services.api.transfer.reports import REPORTS, TEXT_LENGTH, TEXT_LENGTHS, Kind
from shared.db import UtcDateTime, metadata, table_of


class TransferJob(SQLModel, table=True):
    """An import or an export of one site, run in the background by an API process."""

    __tablename__ = "transfer_jobs"
    __table_args__ = (Index("ix_transfer_jobs_site_id_created_at", "site_id", "created_at"),)

    id: str = Field(sa_column=Column("id", String(32), primary_key=True))
    site_id: str = Field(
        sa_column=Column(
            "site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        )
    )
    kind: str = Field(sa_column=Column("kind", String(16), nullable=False))  # import | export
    # plausible | umami (imports); plausible (the export's format)
    format: str = Field(sa_column=Column("format", String(16), nullable=False))
    # pending | running | completed | failed
    status: str = Field(sa_column=Column("status", String(16), nullable=False))
    first_day: date | None = Field(default=None, sa_column=Column("first_day", Date))
    last_day: date | None = Field(default=None, sa_column=Column("last_day", Date))
    filename: str = Field(sa_column=Column("filename", String(255), nullable=False))
    size: int = Field(default=0, sa_column=Column("size", BigInteger, nullable=False))
    # rows read or written so far, of `total` when known
    progress: int = Field(default=0, sa_column=Column("progress", BigInteger, nullable=False))
    total: int | None = Field(default=None, sa_column=Column("total", BigInteger))
    error: str | None = Field(default=None, sa_column=Column("error", String(512)))
    # the process running it and its last sign of life: a job whose runner went quiet is
    # taken over (pending again) or failed, never left running forever
    runner: str | None = Field(default=None, sa_column=Column("runner", String(64)))
    heartbeat_at: datetime | None = Field(
        default=None, sa_column=Column("heartbeat_at", UtcDateTime())
    )
    attempts: int = Field(default=0, sa_column=Column("attempts", Integer, nullable=False))
    created_at: datetime = Field(sa_column=Column("created_at", UtcDateTime(), nullable=False))
    finished_at: datetime | None = Field(
        default=None, sa_column=Column("finished_at", UtcDateTime())
    )


transfer_jobs = table_of(TransferJob)


class TransferChunk(SQLModel, table=True):
    """One piece of a job's file, in order: an import's upload, an export's zip."""

    __tablename__ = "transfer_chunks"

    job_id: str = Field(
        sa_column=Column(
            "job_id",
            String(32),
            ForeignKey("transfer_jobs.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    seq: int = Field(sa_column=Column("seq", Integer, primary_key=True, autoincrement=False))
    data: bytes = Field(sa_column=Column("data", LargeBinary, nullable=False))


transfer_chunks = table_of(TransferChunk)


def _column(name: str, kind: Kind) -> Column[object]:
    if kind is Kind.day:
        return Column(name, Date, nullable=False)
    if kind is Kind.text:
        return Column(name, String(TEXT_LENGTHS.get(name, TEXT_LENGTH)), nullable=False)
    return Column(name, BigInteger, nullable=kind is Kind.optional_count)


def _imported_table(name: str) -> Table:
    report = REPORTS[name]
    return Table(
        name,
        metadata,
        Column("site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        Column(
            "import_id",
            String(32),
            ForeignKey("transfer_jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        # the row's line in its file: an import stores each line once
        Column("line", BigInteger, primary_key=True, autoincrement=False),
        *(_column(column, kind) for column, kind in report.columns),
        Index(f"ix_{name}_site_id_date", "site_id", "date"),
    )


IMPORTED: dict[str, Table] = {name: _imported_table(name) for name in REPORTS}
