"""What a client sends the API is text both databases store, or a 422 (shared/storable.py).

schemathesis (`make fuzz`) puts NUL in strings. On PostgreSQL a NUL in a goal's name, a
funnel step or a job id in a path reached the database, which refuses NUL in text, and the
answer was 500; SQLite stored or answered the same request. Each request below is refused
on both backends before any SQL runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

from services.api.router import router as api_router
from shared.storable import NOT_FINITE_REASON, UNSTORABLE_REASON, StorableBody, unstorable_at
from tests.helpers.overt import Overt
from tests.helpers.people import auth, full_key
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

DAYS = ["2026-01-01", "2026-01-31"]
NUL = "a\x00b"
ID = "0" * 15 + "\x00"
QUERY = {"site_id": "SITE", "date_range": DAYS, "metrics": ["visitors"]}


def condition(dimension: str, value: str) -> dict[str, Any]:
    return {"dimension": dimension, "op": "is", "values": [value]}


# (method, path under /v1/sites/SITE or /v1, JSON body or None). SITE is the site's id.
REQUESTS: dict[str, tuple[str, str, Any]] = {
    "goal name": ("POST", "/sites/SITE/goals", {"name": NUL, "event": "Signup"}),
    "goal prop value": (
        "POST",
        "/sites/SITE/goals",
        {"event": "Signup", "props": {"plan": NUL}},
    ),
    "segment name": (
        "POST",
        "/sites/SITE/segments",
        {"name": NUL, "filters": condition("country", "NL")},
    ),
    "query filter value": (
        "POST",
        "/query",
        {**QUERY, "filters": condition("page", NUL)},
    ),
    "query pattern": (
        "POST",
        "/query",
        {**QUERY, "filters": {"dimension": "page", "op": "matches", "values": [NUL]}},
    ),
    "funnel step": (
        "POST",
        "/reports/funnel",
        {"site_id": "SITE", "date_range": DAYS, "steps": [{"page": "/"}, {"goal": NUL}]},
    ),
    "outcome campaign": (
        "POST",
        "/sites/SITE/outcomes",
        {"id": "o1", "kind": "deal_won", "utm_campaign": NUL},
    ),
    "export job id": ("GET", f"/sites/SITE/exports/{ID}", None),
    "export file job id": ("GET", f"/sites/SITE/exports/{ID}/file", None),
    "import job id": ("DELETE", f"/sites/SITE/imports/{ID}", None),
    "goal id": ("DELETE", f"/sites/SITE/goals/{ID}", None),
    "segment id": ("GET", f"/sites/SITE/segments/{ID}", None),
    "webhook id": ("GET", f"/sites/SITE/webhooks/{ID}/deliveries", None),
    "contact id": ("GET", f"/sites/SITE/contacts/{ID}", None),
}


@pytest.mark.parametrize("name", REQUESTS)
async def test_nul_is_refused_before_the_database(overt: Overt, name: str) -> None:
    method, path, body = REQUESTS[name]
    key = await full_key(overt)
    site = overt.site.id
    if body is not None and body.get("site_id") == "SITE":
        body = {**body, "site_id": site}
    response = await overt.client.request(
        method,
        "/v1" + path.replace("SITE", site).replace("\x00", "%00"),
        json=body,
        headers=auth(key),
    )
    problem = assert_problem(response, 422, "validation-error")
    # Refused for the NUL, not for another fault of the request.
    errors = problem["errors"]
    assert isinstance(errors, list)
    if body is None:
        assert [error["loc"][0] for error in errors] == ["path"]
    else:
        assert [UNSTORABLE_REASON in error["msg"] for error in errors] == [True]


async def test_an_unpaired_surrogate_is_refused(overt: Overt) -> None:
    # JSON spells one as an escape; UTF-8, both backends' encoding, cannot hold it. pydantic
    # refused it in a str field already; the body's check refuses it anywhere, saying why.
    key = await full_key(overt)
    response = await overt.client.post(
        f"/v1/sites/{overt.site.id}/segments",
        content=b'{"name": "a\\ud800b"}',
        headers={**auth(key), "content-type": "application/json"},
    )
    body = assert_problem(response, 422, "validation-error")
    assert "unpaired surrogate" in str(body["errors"])


async def test_a_number_json_cannot_hold_is_refused(overt: Overt) -> None:
    # Python's JSON reader takes Infinity (intent_threshold has no upper bound): PostgreSQL
    # refused to store the definition (500), SQLite stored it as a new version.
    key = await full_key(overt)
    url = f"/v1/sites/{overt.site.id}/definitions"
    response = await overt.client.put(
        url,
        content=b'{"intent_threshold": Infinity}',
        headers={**auth(key), "content-type": "application/json"},
    )
    problem = assert_problem(response, 422, "validation-error")
    assert "finite" in str(problem["errors"])
    stored = await overt.client.get(url, headers=auth(key))
    assert stored.json()["version"] == 0  # nothing stored


def test_the_first_unstorable_value_is_found_at_any_depth() -> None:
    nul, nan = (UNSTORABLE_REASON, NOT_FINITE_REASON)
    assert unstorable_at({"a": [1, "ok", {"b": "x\x00"}]}) == ("a[2].b", nul)
    assert unstorable_at({"a\x00": 1}) == ("(a key)", nul)
    assert unstorable_at({"a": {"b\ud800": 1}}) == ("a", nul)
    assert unstorable_at("\x00") == ("", nul)
    assert unstorable_at({"a": [0.5, float("nan")]}) == ("a[1]", nan)
    assert unstorable_at({"a": ["é", None, 1.5, True, 10**30], "b": "ü"}) is None


def api_routes(router: Any) -> Iterator[APIRoute]:
    """Every route under `router`, through the routers it includes (FastAPI keeps an
    included router whole, behind a wrapper naming it `original_router`)."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router)


def test_every_json_body_of_the_api_is_checked() -> None:
    """A new operation's body model must be a StorableBody, or its text reaches SQL unchecked."""
    bodies = {
        route.path: route.body_field.field_info.annotation
        for route in api_routes(api_router)
        if route.path.startswith("/v1/") and route.body_field is not None
    }
    assert len(bodies) >= 12
    unchecked = {
        path: model
        for path, model in bodies.items()
        if not (isinstance(model, type) and issubclass(model, StorableBody))
    }
    assert unchecked == {}
