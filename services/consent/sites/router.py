"""Route of a site's public key, to verify receipts and checkpoints offline."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.consent.dependencies import SiteDep
from services.consent.http import CORS, SITE
from services.consent.keys.service import load_site_keys
from services.consent.sites.schemas import KeysOut
from shared.errors import problem_responses
from shared.runtime import ResourcesDep

router = APIRouter()


@router.get(
    SITE + "/.well-known/jwks.json",
    operation_id="siteJwks",
    summary="The site's JWKS, for JOSE libraries verifying its receipts' JWS",
    responses=problem_responses(404),
)
@router.get(
    SITE + "/keys",
    summary="The site's public key (JWK) to verify receipts and checkpoints offline",
    responses=problem_responses(404),
)
async def keys(site: SiteDep, resources: ResourcesDep, response: Response) -> KeysOut:
    response.headers.update(CORS)
    async with resources.engine.connect() as conn:
        site_keys = await load_site_keys(
            conn=conn, secret=resources.settings.secret(), site_id=site.id
        )
    assert site_keys is not None
    return KeysOut(keys=[site_keys.jwk()])
