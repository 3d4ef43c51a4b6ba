"""The REST API's OpenAPI: every /v1 operation documents its refusals as problem+json, and
every one is in an isolation table (another site's key, a revoked key, a key lacking the
scope, no key), so an endpoint added without its isolation test fails here."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.isolation import (
    DEFINITION_ENDPOINTS,
    GOAL_ENDPOINTS,
    PEOPLE_ENDPOINTS,
    REPORT_ENDPOINTS,
    TRANSFER_ENDPOINTS,
)
from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio

# Refusals beyond the ones every operation has, by the cause that raises them.
SPECIFIC = {
    ("POST", "/v1/query"): {"404"},  # unknown definition version
    ("POST", "/v1/reports/after-the-click"): {"404"},
    ("POST", "/v1/reports/funnel"): {"404"},
    ("POST", "/v1/reports/retention"): {"404"},
    ("GET", "/v1/sites/{site_id}/definitions"): {"404"},
    ("PUT", "/v1/sites/{site_id}/definitions"): {"409"},
    ("GET", "/v1/sites/{site_id}/contacts/{subject_id}"): {"404"},  # no such consented contact
    ("POST", "/v1/sites/{site_id}/outcomes"): {"409"},  # no consent, id reused
    ("DELETE", "/v1/sites/{site_id}/webhooks/{webhook_id}"): {"404"},
    ("GET", "/v1/sites/{site_id}/webhooks/{webhook_id}/deliveries"): {"404"},
    ("GET", "/v1/sites/{site_id}/exports/{job_id}"): {"404"},
    ("GET", "/v1/sites/{site_id}/exports/{job_id}/file"): {"404", "409"},  # not ready
    ("POST", "/v1/sites/{site_id}/imports"): {"413"},  # larger than OVERT_IMPORT_MAX_BYTES
    ("GET", "/v1/sites/{site_id}/imports/{job_id}"): {"404"},
    ("DELETE", "/v1/sites/{site_id}/imports/{job_id}"): {"404"},
    ("POST", "/v1/sites/{site_id}/goals"): {"409"},  # name taken, too many
    ("DELETE", "/v1/sites/{site_id}/goals/{goal_id}"): {"404"},
    ("POST", "/v1/sites/{site_id}/segments"): {"409"},
    ("GET", "/v1/sites/{site_id}/segments/{segment_id}"): {"404"},
    ("PUT", "/v1/sites/{site_id}/segments/{segment_id}"): {"404", "409"},
    ("DELETE", "/v1/sites/{site_id}/segments/{segment_id}"): {"404"},
    ("GET", "/v1/sites/{site_id}/realtime"): {"503"},  # query timeout
}


def operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, methods in spec["paths"].items()
        if path.startswith("/v1/")
        for method in methods
    }


async def test_every_v1_operation_documents_its_refusals(overt: Overt) -> None:
    spec = (await overt.client.get("/openapi.json")).json()
    found = operations(spec)
    # query, 2 definitions, 3 reports, 2 contacts, 2 outcomes, 4 webhooks, 4 exports,
    # 4 imports, 3 goals, 5 segments, realtime
    assert len(found) == 31
    for method, path in found:
        operation = spec["paths"][path][method.lower()]
        responses = operation["responses"]
        expected = {"401", "403", "422", "429", "500"} | SPECIFIC.get((method, path), set())
        if "requestBody" in operation:
            expected |= {"400", "413"}  # a body that does not parse, or is too large
        assert expected <= set(responses), (method, path, sorted(responses))
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == ["application/problem+json"], (method, path)
    for path in ("/v1/query", "/v1/reports/funnel"):
        assert "k-anonymity" in spec["paths"][path]["post"]["description"]


async def test_every_v1_operation_has_an_isolation_test(overt: Overt) -> None:
    spec = (await overt.client.get("/openapi.json")).json()
    names = {
        "{site}": "{site_id}",
        "{subject}": "{subject_id}",
        "{hook}": "{webhook_id}",
        "{goal}": "{goal_id}",
        "{segment}": "{segment_id}",
    }
    names |= {"{export}": "{job_id}", "{import}": "{job_id}"}

    def spelled(path: str) -> str:
        for short, long in names.items():
            path = path.replace(short, long)
        return path

    covered = {("POST", path) for path, _ in REPORT_ENDPOINTS}
    covered |= {(method, spelled(path)) for method, path, _, _ in PEOPLE_ENDPOINTS}
    covered |= {(method, spelled(path)) for method, path, _, _ in TRANSFER_ENDPOINTS}
    covered |= {(method, spelled(path)) for method, path, _, _ in GOAL_ENDPOINTS}
    covered |= {
        (method, "/v1/sites/{site_id}/definitions") for method, _, _ in DEFINITION_ENDPOINTS
    }
    assert operations(spec) == covered


async def test_the_webhooks_sent_are_documented_as_openapi_webhooks(overt: Overt) -> None:
    spec = (await overt.client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert set(spec["webhooks"]) == {
        "contact.intent_threshold_crossed",
        "contact.goal_completed",
        "contact.withdrawn",
        "contact.deleted",
    }
    crossed = spec["webhooks"]["contact.intent_threshold_crossed"]["post"]
    headers = {p["name"] for p in crossed["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    body = crossed["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    contact = spec["components"]["schemas"]["Contact"]["properties"]
    assert body.endswith("/IntentCrossedEvent")
    assert "identity" in contact
