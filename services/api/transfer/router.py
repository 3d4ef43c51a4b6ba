"""HTTP surface of transfer: exports and imports of a site, as background jobs."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from services.api.keys.dependencies import KEY_ERRORS, ImportsKey, SiteStatsKey
from services.api.transfer.exceptions import BadUpload, FileNotReady
from services.api.transfer.schemas import ExportIn, JobOut, JobsOut
from services.api.transfer.service import (
    Job,
    accept_upload,
    create_job,
    delete_import,
    get_job,
    job_file,
    list_jobs,
)
from shared.errors import problem_responses
from shared.runtime import ResourcesDep
from shared.storable import IdPath, StorableText

router = APIRouter(prefix="/v1", tags=["transfer"])


def job_out(job: Job) -> JobOut:
    days = [job.first_day, job.last_day] if job.first_day and job.last_day else None
    file = None
    if job.kind == "export" and job.status == "completed":
        file = f"/v1/sites/{job.site_id}/exports/{job.id}/file"
    return JobOut(
        id=job.id,
        kind=job.kind,
        format=job.format,
        status=job.status,
        date_range=days,
        filename=job.filename,
        size=job.size,
        progress=job.progress,
        total=job.total,
        error=job.error,
        created_at=job.created_at,
        finished_at=job.finished_at,
        file=file,
    )


@router.post(
    "/sites/{site_id}/exports",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start an export of a date range: Plausible's CSV reports in a zip",
    description="A background job; poll GET .../exports/{id}, then GET .../exports/{id}/file. "
    "Reports by a quasi-identifier hold what /v1/query answers under the site's k.",
    responses=problem_responses(*KEY_ERRORS, 422),
)
async def start_export(
    site_id: str, body: ExportIn, key: SiteStatsKey, resources: ResourcesDep
) -> JobOut:
    first, last = body.date_range
    engine = resources.engine
    job_id = await create_job(
        engine=engine,
        site_id=site_id,
        kind="export",
        data_format="plausible",
        filename=f"overt_{site_id}_{first:%Y%m%d}_{last:%Y%m%d}.zip",
        first_day=first,
        last_day=last,
    )
    return job_out(await get_job(engine=engine, site_id=site_id, job_id=job_id, kind="export"))


@router.get(
    "/sites/{site_id}/exports",
    summary="The site's exports, newest first",
    responses=problem_responses(*KEY_ERRORS),
)
async def exports(site_id: str, key: SiteStatsKey, resources: ResourcesDep) -> JobsOut:
    jobs = await list_jobs(engine=resources.engine, site_id=site_id, kind="export")
    return JobsOut(jobs=[job_out(job) for job in jobs])


@router.get(
    "/sites/{site_id}/exports/{job_id}",
    summary="An export's state and progress",
    responses=problem_responses(*KEY_ERRORS, 404),
)
async def export_state(
    site_id: str, job_id: IdPath, key: SiteStatsKey, resources: ResourcesDep
) -> JobOut:
    return job_out(
        await get_job(engine=resources.engine, site_id=site_id, job_id=job_id, kind="export")
    )


@router.get(
    "/sites/{site_id}/exports/{job_id}/file",
    summary="A completed export's zip",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
        **problem_responses(*KEY_ERRORS, 404, 409),
    },
)
async def export_file(
    site_id: str, job_id: IdPath, key: SiteStatsKey, resources: ResourcesDep
) -> StreamingResponse:
    engine = resources.engine
    job = await get_job(engine=engine, site_id=site_id, job_id=job_id, kind="export")
    if job.status != "completed":
        raise FileNotReady(job.status)
    return StreamingResponse(
        job_file(engine=engine, job_id=job.id),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{job.filename}"',
            "Content-Length": str(job.size),
        },
    )


async def _spool(request: Request, folder: str, limit: int) -> Path:
    """The request body into a private temporary file, never more than `limit` bytes."""
    path = Path(folder) / "upload"
    received = 0
    async with await anyio.open_file(path, "wb") as file:
        stream: AsyncIterator[bytes] = request.stream()
        async for chunk in stream:
            received += len(chunk)
            if received > limit:
                raise BadUpload(f"the upload exceeds {limit} bytes", status=413)
            await file.write(chunk)
    if received == 0:
        raise BadUpload("the upload is empty: send the zip or CSV file as the body")
    return path


@router.post(
    "/sites/{site_id}/imports",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Import a Plausible CSV export (zip or one CSV) or an Umami export",
    description="The body is the file itself, a zip or a CSV (any content type). It is read "
    "whole and checked first (a bad or hostile file is a 4xx problem naming the file and "
    "line), then stored by a background job; poll GET .../imports/{id}. Imported data is "
    "kept apart and counted only by queries with `include: {imports: true}`.",
    responses=problem_responses(*KEY_ERRORS, 400, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in ("application/octet-stream", "text/csv")
            },
        }
    },
)
async def start_import(
    site_id: str,
    request: Request,
    key: ImportsKey,
    resources: ResourcesDep,
    filename: Annotated[
        StorableText,
        Query(
            min_length=1,
            max_length=255,
            description="the file's name (a report's, for one Plausible CSV)",
        ),
    ] = "upload.zip",
    format: Annotated[
        Literal["plausible", "umami"] | None,
        Query(description="whose export; found from the columns when absent"),
    ] = None,
) -> JobOut:
    settings = resources.settings
    with tempfile.TemporaryDirectory(prefix="overt-upload-") as folder:
        path = await _spool(request, folder, settings.import_max_bytes)
        job = await accept_upload(
            engine=resources.engine,
            site_id=site_id,
            upload=path,
            filename=filename,
            data_format=format,
            max_bytes=settings.import_max_unpacked_bytes,
        )
    return job_out(job)


@router.get(
    "/sites/{site_id}/imports",
    summary="The site's imports, newest first",
    responses=problem_responses(*KEY_ERRORS),
)
async def imports(site_id: str, key: ImportsKey, resources: ResourcesDep) -> JobsOut:
    jobs = await list_jobs(engine=resources.engine, site_id=site_id, kind="import")
    return JobsOut(jobs=[job_out(job) for job in jobs])


@router.get(
    "/sites/{site_id}/imports/{job_id}",
    summary="An import's state and progress",
    responses=problem_responses(*KEY_ERRORS, 404),
)
async def import_state(
    site_id: str, job_id: IdPath, key: ImportsKey, resources: ResourcesDep
) -> JobOut:
    return job_out(
        await get_job(engine=resources.engine, site_id=site_id, job_id=job_id, kind="import")
    )


@router.delete(
    "/sites/{site_id}/imports/{job_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an import and every row it stored",
    responses=problem_responses(*KEY_ERRORS, 404),
)
async def remove_import(
    site_id: str, job_id: IdPath, key: ImportsKey, resources: ResourcesDep
) -> Response:
    await delete_import(engine=resources.engine, site_id=site_id, job_id=job_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
