"""The transfer loop of an API process: run pending imports and exports, one at a time."""

from __future__ import annotations

import asyncio
import re

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.transfer.service import claim_job, release_stale_jobs, run_job
from shared.body import BODY_LIMIT_KEY
from shared.runtime import Resources
from shared.tasks import periodic

POLL_S = 1.0
UPLOAD_PATH = re.compile(r"^/v1/sites/[^/]{1,32}/imports/?$")


async def run_transfers(resources: Resources, stop: asyncio.Event) -> None:
    """Each pass: jobs whose runner went quiet are released, then pending jobs are run."""
    engine = resources.engine
    settings = resources.settings

    async def one_pass() -> None:
        await release_stale_jobs(engine=engine)
        while not stop.is_set() and (job_id := await claim_job(engine=engine)) is not None:
            await run_job(
                engine=engine,
                job_id=job_id,
                max_bytes=settings.import_max_unpacked_bytes,
                timeout_s=settings.query_timeout_s,
            )

    await periodic(stop, interval=POLL_S, one_pass=one_pass, name="transfers")


def upload_limit(app: ASGIApp, fastapi_app: FastAPI) -> ASGIApp:
    """A front layer: an import's upload may be larger than other bodies
    (OVERT_IMPORT_MAX_BYTES instead of OVERT_MAX_BODY_BYTES)."""
    settings = None

    async def layer(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal settings
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and UPLOAD_PATH.match(scope["path"])
        ):
            if settings is None:
                settings = fastapi_app.state.resources.settings
            scope = {**scope, BODY_LIMIT_KEY: settings.import_max_bytes}
        await app(scope, receive, send)

    return layer
