"""Transfer jobs: an upload checked and kept, an import stored, an export written, a job's
life (pending, running, completed or failed), and an import deleted.

A job is claimed by one API process at a time (`runner`, `heartbeat_at`); a job whose runner
stops beating for STALE_AFTER (a crash, a restart) is started again from scratch, its
partial rows or file deleted first, up to MAX_ATTEMPTS, then failed with a reason. An
import's rows are visible to queries only once it is completed, so a half-stored import is
never counted, and a failed one leaves no rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.days import site_timezone
from services.api.transfer.archive import csv_files
from services.api.transfer.exceptions import BadUpload, JobNotFound
from services.api.transfer.export import write_export
from services.api.transfer.models import IMPORTED, transfer_chunks, transfer_jobs
from services.api.transfer.plausible import report_rows
from services.api.transfer.reports import report_of_filename
from services.api.transfer.umami import UmamiAggregate

CHUNK_BYTES = 1024 * 1024
INSERT_BATCH = 1000
STALE_AFTER = timedelta(seconds=60)
HEARTBEAT_EVERY_S = 5.0
MAX_ATTEMPTS = 3
FORMATS = ("plausible", "umami")
RUNNER = f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(4)}"

ImportedRow = tuple[str, dict[str, Any]]


def now() -> datetime:
    return datetime.now(UTC)


# --- reading an upload (pure, synchronous: run in a thread) ------------------------------------


def detect_format(path: Path, *, filename: str, max_bytes: int) -> str:
    """umami when the first CSV file has Umami's event columns, else plausible."""
    with contextlib.closing(csv_files(path, filename=filename, max_bytes=max_bytes)) as files:
        for file in files:
            return "umami" if {"session_id", "event_type"} <= set(file.header) else "plausible"
    raise BadUpload(f"{filename}: holds no CSV file")


def imported_rows(
    path: Path, *, filename: str, data_format: str, timezone: str, max_bytes: int
) -> Iterator[ImportedRow]:
    """Every (report, row) an upload holds, checked; a bad file or row raises BadUpload."""
    if data_format == "umami":
        aggregate = UmamiAggregate(timezone)
        for file in csv_files(path, filename=filename, max_bytes=max_bytes):
            for _ in aggregate.add_file(file):
                pass
        yield from aggregate.rows()
        return
    found = False
    for file in csv_files(path, filename=filename, max_bytes=max_bytes):
        named = report_of_filename(file.name)
        if named is None:
            raise BadUpload(
                f"{file.name[:80]}: not a report of Plausible's export (imported_visitors_"
                "YYYYMMDD_YYYYMMDD.csv, imported_sources_..., ...)"
            )
        found = True
        for _, row in report_rows(named[0], file):
            yield named[0].name, row
    if not found:
        raise BadUpload(f"{filename}: holds no report of Plausible's export")


def check_upload(
    path: Path, *, filename: str, data_format: str | None, timezone: str, max_bytes: int
) -> tuple[str, int, date | None, date | None]:
    """Read a whole upload once: its format, its rows and days (BadUpload if any is bad)."""
    chosen = data_format or detect_format(path, filename=filename, max_bytes=max_bytes)
    rows, first, last = 0, None, None
    for _, row in imported_rows(
        path, filename=filename, data_format=chosen, timezone=timezone, max_bytes=max_bytes
    ):
        rows += 1
        day = row["date"]
        first = day if first is None or day < first else first
        last = day if last is None or day > last else last
    return chosen, rows, first, last


# --- jobs -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Progress:
    """Rows a running job has done, told to an optional watcher (the CLI's progress line)."""

    watcher: Callable[[int], None] | None = None
    rows: int = 0

    def set(self, rows: int) -> None:
        self.rows = rows
        if self.watcher is not None:
            self.watcher(rows)


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    site_id: str
    kind: str
    format: str
    status: str
    first_day: date | None
    last_day: date | None
    filename: str
    size: int
    progress: int
    total: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


def _job(row: Any) -> Job:
    return Job(**{name: row._mapping[name] for name in Job.__slots__})


async def get_job(*, engine: AsyncEngine, site_id: str, job_id: str, kind: str) -> Job:
    """A site's job of that kind (404 otherwise)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(transfer_jobs).where(
                    transfer_jobs.c.id == job_id,
                    transfer_jobs.c.site_id == site_id,
                    transfer_jobs.c.kind == kind,
                )
            )
        ).first()
    if row is None:
        raise JobNotFound()
    return _job(row)


async def list_jobs(*, engine: AsyncEngine, site_id: str, kind: str) -> list[Job]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(transfer_jobs)
                .where(transfer_jobs.c.site_id == site_id, transfer_jobs.c.kind == kind)
                .order_by(transfer_jobs.c.created_at.desc())
                .limit(100)
            )
        ).all()
    return [_job(row) for row in rows]


async def create_job(
    *,
    engine: AsyncEngine,
    site_id: str,
    kind: str,
    data_format: str,
    filename: str,
    first_day: date | None,
    last_day: date | None,
    total: int | None = None,
    upload: Path | None = None,
    claimed: bool = False,
) -> str:
    """A pending job (with its upload's bytes, for an import), committed in one transaction;
    `claimed`: running already, by this process (the CLI runs its jobs itself)."""
    job_id = secrets.token_hex(16)
    async with engine.begin() as conn:
        await conn.execute(
            insert(transfer_jobs).values(
                id=job_id,
                site_id=site_id,
                kind=kind,
                format=data_format,
                status="running" if claimed else "pending",
                runner=RUNNER if claimed else None,
                heartbeat_at=now() if claimed else None,
                attempts=1 if claimed else 0,
                first_day=first_day,
                last_day=last_day,
                filename=filename[:255],
                size=0,
                progress=0,
                total=total,
                created_at=now(),
            )
        )
        if upload is not None:
            size = 0
            async with await anyio.open_file(upload, "rb") as file:
                seq = 0
                while chunk := await file.read(CHUNK_BYTES):
                    await conn.execute(
                        insert(transfer_chunks).values(job_id=job_id, seq=seq, data=chunk)
                    )
                    size += len(chunk)
                    seq += 1
            await conn.execute(
                update(transfer_jobs).where(transfer_jobs.c.id == job_id).values(size=size)
            )
    return job_id


async def accept_upload(
    *,
    engine: AsyncEngine,
    site_id: str,
    upload: Path,
    filename: str,
    data_format: str | None,
    max_bytes: int,
    claimed: bool = False,
) -> Job:
    """Check an upload whole (BadUpload if it is not a readable export), then keep it as an
    import job of the site."""
    timezone = await site_timezone(engine=engine, site_id=site_id)
    chosen, rows, first, last = await asyncio.to_thread(
        check_upload,
        upload,
        filename=filename,
        data_format=data_format,
        timezone=timezone,
        max_bytes=max_bytes,
    )
    job_id = await create_job(
        engine=engine,
        site_id=site_id,
        kind="import",
        data_format=chosen,
        filename=filename,
        first_day=first,
        last_day=last,
        total=rows,
        upload=upload,
        claimed=claimed,
    )
    return await get_job(engine=engine, site_id=site_id, job_id=job_id, kind="import")


async def job_file(*, engine: AsyncEngine, job_id: str) -> AsyncIterator[bytes]:
    """A job's file, chunk by chunk."""
    seq = 0
    while True:
        async with engine.connect() as conn:
            data = (
                await conn.execute(
                    select(transfer_chunks.c.data).where(
                        transfer_chunks.c.job_id == job_id, transfer_chunks.c.seq == seq
                    )
                )
            ).scalar_one_or_none()
        if data is None:
            return
        yield bytes(data)
        seq += 1


async def delete_import(*, engine: AsyncEngine, site_id: str, job_id: str) -> None:
    """Delete an import and every row it stored (404 if the site has no such import)."""
    await get_job(engine=engine, site_id=site_id, job_id=job_id, kind="import")
    async with engine.begin() as conn:
        for table in IMPORTED.values():
            await conn.execute(delete(table).where(table.c.import_id == job_id))
        await conn.execute(delete(transfer_jobs).where(transfer_jobs.c.id == job_id))


async def _set(engine: AsyncEngine, job_id: str, **values: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(transfer_jobs).where(transfer_jobs.c.id == job_id).values(**values)
        )


async def release_stale_jobs(*, engine: AsyncEngine) -> None:
    """Jobs whose runner went quiet: pending again (run from scratch), or failed after
    MAX_ATTEMPTS."""
    quiet = now() - STALE_AFTER
    stale = (transfer_jobs.c.status == "running") & (transfer_jobs.c.heartbeat_at < quiet)
    async with engine.begin() as conn:
        await conn.execute(
            update(transfer_jobs)
            .where(stale, transfer_jobs.c.attempts >= MAX_ATTEMPTS)
            .values(
                status="failed",
                finished_at=now(),
                error=f"its runner stopped {MAX_ATTEMPTS} times (restarts?); start it again",
            )
        )
        await conn.execute(update(transfer_jobs).where(stale).values(status="pending", runner=None))


async def claim_job(*, engine: AsyncEngine) -> str | None:
    """Take the oldest pending job for this process (None when there is none)."""
    async with engine.connect() as conn:
        job_id = (
            await conn.execute(
                select(transfer_jobs.c.id)
                .where(transfer_jobs.c.status == "pending")
                .order_by(transfer_jobs.c.created_at)
                .limit(1)
            )
        ).scalar_one_or_none()
    if job_id is None:
        return None
    async with engine.begin() as conn:
        claimed = await conn.execute(
            update(transfer_jobs)
            .where(transfer_jobs.c.id == job_id, transfer_jobs.c.status == "pending")
            .values(
                status="running",
                runner=RUNNER,
                heartbeat_at=now(),
                attempts=transfer_jobs.c.attempts + 1,
                progress=0,
            )
        )
    return str(job_id) if claimed.rowcount == 1 else None


async def run_job(
    *,
    engine: AsyncEngine,
    job_id: str,
    max_bytes: int,
    timeout_s: float,
    report: Callable[[int], None] | None = None,
) -> None:
    """Run a claimed job to completed or failed, beating its heart meanwhile; `report` is
    told the rows done so far as they grow."""
    async with engine.connect() as conn:
        job = _job(
            (await conn.execute(select(transfer_jobs).where(transfer_jobs.c.id == job_id))).one()
        )
    progress = Progress(report)

    async def beat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY_S)
            await _set(engine, job_id, heartbeat_at=now(), progress=progress.rows)

    heart = asyncio.create_task(beat())
    try:
        if job.kind == "import":
            await _run_import(engine, job, progress, max_bytes=max_bytes)
        else:
            await _run_export(engine, job, progress, timeout_s=timeout_s)
    except BadUpload as exc:
        await _fail(engine, job, exc.detail or exc.title)
    except Exception as exc:
        await _fail(engine, job, f"{type(exc).__name__}: the job stopped; see the log")
        raise
    else:
        await _set(
            engine,
            job_id,
            status="completed",
            finished_at=now(),
            progress=progress.rows,
            heartbeat_at=now(),
        )
    finally:
        heart.cancel()


async def _fail(engine: AsyncEngine, job: Job, reason: str) -> None:
    await _clear(engine, job)
    await _set(engine, job.id, status="failed", finished_at=now(), error=reason[:512])


async def _clear(engine: AsyncEngine, job: Job) -> None:
    """What an attempt stored: an import's rows, an export's file."""
    async with engine.begin() as conn:
        if job.kind == "import":
            for table in IMPORTED.values():
                await conn.execute(delete(table).where(table.c.import_id == job.id))
        else:
            await conn.execute(delete(transfer_chunks).where(transfer_chunks.c.job_id == job.id))


async def _run_import(engine: AsyncEngine, job: Job, progress: Progress, *, max_bytes: int) -> None:
    await _clear(engine, job)
    timezone = await site_timezone(engine=engine, site_id=job.site_id)
    with tempfile.TemporaryDirectory(prefix="overt-import-") as folder:
        path = Path(folder) / "upload"
        with path.open("wb") as file:
            async for chunk in job_file(engine=engine, job_id=job.id):
                file.write(chunk)
        await store_rows(
            engine=engine,
            site_id=job.site_id,
            import_id=job.id,
            rows=lambda: imported_rows(
                path,
                filename=job.filename,
                data_format=job.format,
                timezone=timezone,
                max_bytes=max_bytes,
            ),
            progress=progress,
        )
    async with engine.begin() as conn:  # the upload is not kept once it is stored
        await conn.execute(delete(transfer_chunks).where(transfer_chunks.c.job_id == job.id))


async def store_rows(
    *,
    engine: AsyncEngine,
    site_id: str,
    import_id: str,
    rows: Callable[[], Iterator[ImportedRow]],
    progress: Progress,
) -> None:
    """Insert an import's rows in batches, each row under its own line number; the parse
    runs in a thread, a batch at a time."""
    iterator = rows()
    line = 0

    def next_batch() -> list[ImportedRow]:
        batch = []
        for item in iterator:
            batch.append(item)
            if len(batch) >= INSERT_BATCH:
                break
        return batch

    while batch := await asyncio.to_thread(next_batch):
        by_table: dict[str, list[dict[str, Any]]] = {}
        for report, row in batch:
            line += 1
            by_table.setdefault(report, []).append(
                {"site_id": site_id, "import_id": import_id, "line": line, **row}
            )
        async with engine.begin() as conn:
            for report, values in by_table.items():
                await conn.execute(insert(IMPORTED[report]), values)
        progress.set(line)


async def _run_export(
    engine: AsyncEngine, job: Job, progress: Progress, *, timeout_s: float
) -> None:
    await _clear(engine, job)
    assert job.first_day is not None
    assert job.last_day is not None
    seq = [0]

    async def emit(data: bytes) -> None:
        if not data:
            return
        async with engine.begin() as conn:
            await conn.execute(insert(transfer_chunks).values(job_id=job.id, seq=seq[0], data=data))
            await conn.execute(
                update(transfer_jobs)
                .where(transfer_jobs.c.id == job.id)
                .values(size=transfer_jobs.c.size + len(data))
            )
        seq[0] += 1

    async def report(rows: int) -> None:
        progress.set(rows)

    await _set(engine, job.id, size=0)
    await write_export(
        engine=engine,
        site_id=job.site_id,
        first=job.first_day,
        last=job.last_day,
        timeout_s=timeout_s,
        emit=emit,
        progress=report,
    )


async def completed_imports(*, engine: AsyncEngine, site_id: str) -> int:
    """How many of the site's imports are completed (counted by `include.imports`)."""
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    select(func.count()).where(
                        transfer_jobs.c.site_id == site_id,
                        transfer_jobs.c.kind == "import",
                        transfer_jobs.c.status == "completed",
                    )
                )
            ).scalar_one()
        )
