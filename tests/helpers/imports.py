"""Imports in tests: a zip of report files, uploaded and its job run to the end, as the API's
transfer loop would."""

from __future__ import annotations

import io
import zipfile

from services.api.keys.service import create_key
from services.api.transfer.service import claim_job, run_job
from shared.keys import KeyScope
from tests.helpers.overt import Overt
from tests.helpers.traffic import days


async def run_pending_jobs(overt: Overt) -> None:
    """What the API's transfer loop does, driven by the test so every job is finished."""
    engine = overt.resources.engine
    while (job_id := await claim_job(engine=engine)) is not None:
        await run_job(engine=engine, job_id=job_id, max_bytes=10**9, timeout_s=30)


def zipped(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


async def imported(
    overt: Overt, site_id: str, auth: dict[str, str], body: bytes, **params: str
) -> str:
    """The id of a completed import of `body` into the site (the key in `auth` may write
    imports)."""
    response = await overt.client.post(
        f"/v1/sites/{site_id}/imports", content=body, params=params, headers=auth
    )
    assert response.status_code == 202, response.text
    await run_pending_jobs(overt)
    state = await overt.client.get(
        f"/v1/sites/{site_id}/imports/{response.json()['id']}", headers=auth
    )
    assert state.json()["status"] == "completed", state.text
    return str(response.json()["id"])


async def imported_goal_days(overt: Overt) -> tuple[str, str]:
    """Yesterday and today imported into the fixture site: 10 and 20 visitors; Signup 3
    and 4 of them, Purchase 1 yesterday (the days, as ISO text)."""
    _, key = await create_key(
        engine=overt.resources.engine, site_id=overt.site.id, scopes=[KeyScope.imports_write]
    )
    yesterday, today = days()
    stamp = f"{yesterday.replace('-', '')}_{today.replace('-', '')}"
    files = {
        f"imported_visitors_{stamp}.csv": f"date,visitors\n{yesterday},10\n{today},20\n",
        f"imported_custom_events_{stamp}.csv": (
            f"date,name,link_url,path,visitors,events\n{yesterday},Signup,,,3,3\n"
            f"{yesterday},Purchase,,,1,1\n{today},Signup,,,4,5\n"
        ),
    }
    await imported(overt, overt.site.id, {"authorization": f"Bearer {key}"}, zipped(files))
    return yesterday, today
