"""Consent receipts as a JWS (EdDSA, Ed25519) that standard JOSE tools verify against the
site's JWKS; the README's ten-line example, run against a running Overt; receipts of
version 1 (signed canonical JSON) still verify."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest

from services.consent.crypto import b64url, canonical_json, unb64url, verify_signature
from services.consent.keys.service import site_keys
from services.consent.receipts.service import (
    RECEIPT_SCHEMA_V1,
    parse_evidence_line,
    verify_receipt,
)
from services.consent.sites.service import ensure_site
from shared.db import create_engine
from shared.settings import Settings
from shared.sites import Site, create_site
from tests.helpers.backends import free_port
from tests.helpers.consent import post_decisions
from tests.helpers.overt import Overt
from tests.helpers.processes import start_overt, stop_overt

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    """The Python block after "Receipt verification example" in README.md, as printed."""
    text = README.read_text()
    found = re.search(r"Receipt verification example.*?```python\n(.*?)```", text, re.S)
    assert found is not None
    return found.group(1)


async def jwks(overt: Overt, site: Site) -> dict[str, Any]:
    answer = await overt.client.get(f"/consent/sites/{site.id}/.well-known/jwks.json")
    assert answer.status_code == 200
    keys: dict[str, Any] = answer.json()
    return keys


async def test_a_receipt_is_a_jws_that_pyjwt_verifies(overt: Overt, site: Site) -> None:
    envelope = (await post_decisions(overt, site, analytics=True)).json()["receipt"]
    assert envelope["version"] == 2
    key = jwt.PyJWKSet.from_dict(await jwks(overt, site))[envelope["key_id"]]
    header = jwt.get_unverified_header(envelope["jws"])
    assert header == {"alg": "EdDSA", "kid": envelope["key_id"]}
    payload = jwt.api_jws.decode(envelope["jws"], key, algorithms=["EdDSA"])
    assert orjson.loads(payload) == envelope["receipt"]
    assert envelope["jws"].rsplit(".", 1)[1] == envelope["signature"]
    assert verify_receipt(envelope, unb64url(key_x(await jwks(overt, site))))
    # Another body under the same signature is refused.
    head, _, signature = envelope["jws"].split(".")
    forged = {**envelope["receipt"], "jurisdiction": "US"}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.api_jws.decode(
            f"{head}.{b64url(canonical_json(forged))}.{signature}", key, algorithms=["EdDSA"]
        )
    assert not verify_receipt(
        {**envelope, "receipt": forged}, unb64url(key_x(await jwks(overt, site)))
    )


def key_x(keys: dict[str, Any]) -> str:
    x: str = keys["keys"][0]["x"]
    return x


async def test_kept_receipts_carry_the_jws_and_version_1_still_verifies(
    overt: Overt, site: Site
) -> None:
    decided = (await post_decisions(overt, site, analytics=True)).json()
    auth = {"authorization": f"Bearer {decided['credential']}"}
    history = (await overt.client.get(f"/consent/sites/{site.id}/history", headers=auth)).json()
    kept = history["receipts"][-1]
    assert kept["jws"] == decided["receipt"]["jws"]  # rebuilt from the stored body
    public_key = unb64url(key_x(await jwks(overt, site)))
    assert verify_receipt(kept, public_key)
    # A version 1 receipt (issued before receipts were JWS): the signature covers the
    # canonical JSON body, and it still verifies, alone and as ledger evidence.
    body = {**decided["receipt"]["receipt"], "schema": RECEIPT_SCHEMA_V1}
    async with overt.resources.engine.connect() as conn:
        keys = await site_keys(conn=conn, secret=overt.resources.settings.secret(), site_id=site.id)
    old = {"receipt": body, "alg": "EdDSA", "key_id": keys.key_id}
    old["signature"] = b64url(keys.sign(canonical_json(body)))
    assert verify_receipt(old, public_key)
    assert not verify_receipt({**old, "receipt": {**body, "schema": "x"}}, public_key)
    for envelope in (old, kept):
        evidence = parse_evidence_line(orjson.dumps(envelope).decode())
        assert not isinstance(evidence, str)
        assert evidence
        assert all(verify_signature(public_key, e.signature, e.message) for e in evidence)


async def test_the_readme_example_verifies_a_receipt_of_a_running_overt(
    settings: Settings, tmp_path: Path
) -> None:
    engine = create_engine(settings)
    try:
        site = await create_site(engine=engine, domain="example.com")
        await ensure_site(engine=engine, secret=settings.secret(), site_id=site.id)
    finally:
        await engine.dispose()
    port = free_port()
    process = await start_overt(settings, port, tmp_path / "overt.log")
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            decided = await client.post(
                f"/consent/sites/{site.id}/decisions",
                json={"choices": {"analytics": True}, "method": "api", "jurisdiction": "EU"},
            )
        assert decided.status_code == 201
        envelope = decided.json()["receipt"]
        example: dict[str, Any] = {}
        exec(compile(readme_example(), "README.md", "exec"), example)
        body = await asyncio.to_thread(example["verify"], envelope, url)
        assert body == envelope["receipt"]
        assert body["controller"]["site_id"] == site.id
        head, _, signature = envelope["jws"].split(".")
        other = b64url(canonical_json({**envelope["receipt"], "jurisdiction": "US"}))
        altered = {**envelope, "jws": f"{head}.{other}.{signature}"}
        with pytest.raises(jwt.InvalidSignatureError):
            await asyncio.to_thread(example["verify"], altered, url)
    finally:
        assert await stop_overt(process, signal.SIGTERM) == 0
