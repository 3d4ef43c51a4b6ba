"""Routes of data-subject rights: history (access), export and erasure."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from fastapi import APIRouter, Response

from services.consent.dependencies import SubjectDep
from services.consent.http import CORS, SITE
from services.consent.ledger.service import Method, subject_entries
from services.consent.receipts.service import subject_receipts
from services.consent.rights.schemas import HistoryOut, RequestOut
from services.consent.rights.service import Regime, erase_subject, export_subject, list_requests
from shared.errors import problem_responses
from shared.runtime import ResourcesDep

router = APIRouter()


def export_file(data: Mapping[str, object], site_id: str, **headers: str) -> Response:
    """A subject export as a JSON download (the page's form and the API's GET both send it)."""
    return Response(
        orjson.dumps(data, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={
            **headers,
            "Content-Disposition": f'attachment; filename="overt-export-{site_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    SITE + "/history",
    summary="Every ledger row and receipt about the subject",
    responses=problem_responses(401, 404),
)
async def history(subject: SubjectDep, resources: ResourcesDep, response: Response) -> HistoryOut:
    response.headers.update(CORS)
    async with resources.engine.connect() as conn:
        entries = await subject_entries(
            conn=conn, site_id=subject.site.id, subject_id=subject.subject_id
        )
        receipts = await subject_receipts(
            conn=conn, site_id=subject.site.id, subject_id=subject.subject_id
        )
    return HistoryOut(
        subject_id=subject.subject_id,
        entries=[entry.public() for entry in entries],
        receipts=receipts,
    )


@router.get(
    SITE + "/export",
    summary="Everything held about the subject (a data-subject access request)",
    responses=problem_responses(401, 404),
)
async def export(
    subject: SubjectDep, resources: ResourcesDep, regime: Regime = Regime.gdpr
) -> Response:
    data = await export_subject(
        resources=resources, site=subject.site, subject_id=subject.subject_id, regime=regime
    )
    return export_file(data, subject.site.id, **CORS)


@router.post(
    SITE + "/erase",
    summary="Erase the subject: identity and links destroyed, a PII-free ledger row kept",
    responses=problem_responses(401, 404),
)
async def erase(
    subject: SubjectDep, resources: ResourcesDep, response: Response, regime: Regime = Regime.gdpr
) -> RequestOut:
    response.headers.update(CORS)
    request_id = await erase_subject(
        resources=resources,
        site=subject.site,
        subject_id=subject.subject_id,
        method=Method.api,
        regime=regime,
    )
    done = await list_requests(
        engine=resources.engine, site_id=subject.site.id, subject_id=subject.subject_id
    )
    row = next(r for r in done if r["request_id"] == request_id)
    return RequestOut(**{k: row[k] for k in RequestOut.model_fields})
