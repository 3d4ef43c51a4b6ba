"""Isolation of goals, segments and realtime: another site's key, a key lacking the scope,
a revoked key and no key are each refused, and the refusal names nothing of the site's."""

from __future__ import annotations

import json

import httpx
import pytest

from services.api.keys.service import create_key, revoke_key
from shared.keys import KeyScope
from shared.sites import create_site
from tests.helpers.isolation import GOAL_ENDPOINTS, GOOGLE_ONLY
from tests.helpers.overt import Overt
from tests.helpers.people import auth, full_key
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

IDS = [f"{method} {path}" for method, path, _, _ in GOAL_ENDPOINTS]


@pytest.mark.parametrize(("method", "path", "scope", "body"), GOAL_ENDPOINTS, ids=IDS)
async def test_endpoint_refuses_other_site_revoked_and_unscoped_keys(
    overt: Overt, method: str, path: str, scope: KeyScope, body: object
) -> None:
    owner = auth(await full_key(overt))
    base = f"/v1/sites/{overt.site.id}"
    goal = await overt.client.post(f"{base}/goals", json={"page": "/thanks"}, headers=owner)
    segment = await overt.client.post(
        f"{base}/segments", json={"name": "Fixture", "filters": GOOGLE_ONLY}, headers=owner
    )
    assert (goal.status_code, segment.status_code) == (201, 201), (goal.text, segment.text)
    names = {"site": overt.site.id, "goal": goal.json()["id"], "segment": segment.json()["id"]}
    url = path
    for name, value in names.items():
        url = url.replace("{" + name + "}", value)

    async def call(key: str | None) -> httpx.Response:
        headers = auth(key) if key else {}
        return await overt.client.request(method, url, json=body, headers=headers)

    other = await create_site(engine=overt.resources.engine, domain="other.example")
    problem = assert_problem(await call(await full_key(overt, site_id=other.id)), 403, "wrong-site")
    assert problem.pop("instance") == url  # the caller's own path, echoed
    assert names["goal"] not in json.dumps(problem)
    assert names["segment"] not in json.dumps(problem)

    others = [s for s in KeyScope if s != scope]
    _, unscoped = await create_key(
        engine=overt.resources.engine, site_id=overt.site.id, scopes=others
    )
    assert_problem(await call(unscoped), 403, "missing-scope")

    key, secret = await create_key(
        engine=overt.resources.engine, site_id=overt.site.id, scopes=[scope]
    )
    allowed = await call(secret)
    assert allowed.status_code in (200, 201, 204), allowed.text
    assert await revoke_key(engine=overt.resources.engine, key_id=key.id)
    assert_problem(await call(secret), 401, "invalid-api-key")
    assert_problem(await call(None), 401, "api-key-required")
