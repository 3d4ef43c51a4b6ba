"""The OpenAPI of the three services, linted by Spectral (pinned in tests/api/spectral, the
recommended `spectral:oas` rules) with zero errors, with the readable operation ids and
domain tags a client generator names its methods and modules after."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.cli import service_app
from shared.settings import Settings
from tests.helpers.node import node_and_npm, npm_ci
from tests.helpers.overt import Overt

LINTER = Path(__file__).parent / "spectral"
SERVICES = ("collector", "consent", "api")
DOCUMENTED = Settings(
    database_url="postgresql+asyncpg://overt@db/overt",
    redis_url="redis://127.0.0.1:6379/0",
    secret_key="k" * 40,
)

# The public API's operations, by the ids a generated client calls them.
API_OPERATIONS = {
    ("POST", "/v1/query"): "query",
    ("POST", "/v1/reports/after-the-click"): "afterTheClickReport",
    ("POST", "/v1/reports/funnel"): "funnelReport",
    ("POST", "/v1/reports/retention"): "retentionReport",
    ("POST", "/v1/reports/outcomes"): "reportOutcomes",
    ("GET", "/v1/sites/{site_id}/definitions"): "getDefinition",
    ("PUT", "/v1/sites/{site_id}/definitions"): "putDefinition",
    ("GET", "/v1/sites/{site_id}/contacts"): "listContacts",
    ("GET", "/v1/sites/{site_id}/contacts/{subject_id}"): "getContact",
    ("POST", "/v1/sites/{site_id}/outcomes"): "recordOutcome",
    ("POST", "/v1/sites/{site_id}/webhooks"): "createWebhook",
    ("GET", "/v1/sites/{site_id}/webhooks"): "listWebhooks",
    ("DELETE", "/v1/sites/{site_id}/webhooks/{webhook_id}"): "deleteWebhook",
    ("GET", "/v1/sites/{site_id}/webhooks/{webhook_id}/deliveries"): "listWebhookDeliveries",
    ("POST", "/v1/sites/{site_id}/exports"): "startExport",
    ("GET", "/v1/sites/{site_id}/exports"): "exports",
    ("GET", "/v1/sites/{site_id}/exports/{job_id}"): "exportState",
    ("GET", "/v1/sites/{site_id}/exports/{job_id}/file"): "exportFile",
    ("POST", "/v1/sites/{site_id}/imports"): "startImport",
    ("GET", "/v1/sites/{site_id}/imports"): "imports",
    ("GET", "/v1/sites/{site_id}/imports/{job_id}"): "importState",
    ("DELETE", "/v1/sites/{site_id}/imports/{job_id}"): "removeImport",
    ("GET", "/v1/sites/{site_id}/goals"): "listGoals",
    ("POST", "/v1/sites/{site_id}/goals"): "createGoal",
    ("DELETE", "/v1/sites/{site_id}/goals/{goal_id}"): "deleteGoal",
    ("GET", "/v1/sites/{site_id}/segments"): "listSegments",
    ("POST", "/v1/sites/{site_id}/segments"): "createSegment",
    ("GET", "/v1/sites/{site_id}/segments/{segment_id}"): "getSegment",
    ("PUT", "/v1/sites/{site_id}/segments/{segment_id}"): "updateSegment",
    ("DELETE", "/v1/sites/{site_id}/segments/{segment_id}"): "deleteSegment",
    ("GET", "/v1/sites/{site_id}/realtime"): "getRealtime",
}


@pytest.fixture(scope="module")
def spectral(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The pinned Spectral CLI, installed from its lock file into a scratch folder."""
    node, _ = node_and_npm()
    work = tmp_path_factory.mktemp("spectral")
    for name in ("package.json", "package-lock.json", ".spectral.yaml"):
        shutil.copy(LINTER / name, work / name)
    npm_ci(work)
    cli = work / "node_modules" / "@stoplight" / "spectral-cli" / "dist" / "index.js"
    return [node, str(cli), "lint", "--ruleset", str(work / ".spectral.yaml")]


def lint(spectral: list[str], spec: dict[str, Any], where: Path) -> list[dict[str, Any]]:
    """Spectral's findings on `spec` (severity 0 is an error, 1 a warning)."""
    document = where / "openapi.json"
    document.write_text(json.dumps(spec))
    run = subprocess.run(
        [*spectral, str(document), "--format", "json", "--fail-severity", "error"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    findings: list[dict[str, Any]] = json.loads(run.stdout[run.stdout.index("[") :])
    assert (run.returncode != 0) == any(f["severity"] == 0 for f in findings), run.stderr
    return findings


@pytest.mark.nightly  # the linter's own check; the spec lint runs in make test
def test_the_linter_finds_errors_when_there_are_some(spectral: list[str], tmp_path: Path) -> None:
    """A broken reference (what the collector's body schemas had) is an error."""
    spec = service_app(DOCUMENTED, "collector").openapi()
    spec["paths"]["/e"]["post"]["requestBody"]["content"]["application/json"]["schema"] = {
        "$ref": "#/$defs/EventIn"
    }
    errors = [f for f in lint(spectral, spec, tmp_path) if f["severity"] == 0]
    assert [f["code"] for f in errors] == ["invalid-ref"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_services_spec_lints_without_errors(
    service: str, spectral: list[str], tmp_path: Path
) -> None:
    spec = service_app(DOCUMENTED, service).openapi()
    errors = [f for f in lint(spectral, spec, tmp_path) if f["severity"] == 0]
    assert errors == []
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert operation_id.isalnum(), operation_id  # camelCase, no FastAPI path suffixes
        assert operation_id[0].islower(), operation_id
    defined = {tag["name"] for tag in spec["tags"]}
    for ops in spec["paths"].values():
        for op in ops.values():
            assert op["tags"], op["operationId"]
            assert set(op["tags"]) <= defined, op["operationId"]


@pytest.mark.anyio
async def test_the_served_spec_lints_and_names_the_api_operations(
    overt: Overt, spectral: list[str], tmp_path: Path
) -> None:
    """The all-in-one server's /openapi.json, as a client generator fetches it."""
    spec = (await overt.client.get("/openapi.json")).json()
    assert [f for f in lint(spectral, spec, tmp_path) if f["severity"] == 0] == []
    found = {
        (method.upper(), path): op["operationId"]
        for path, ops in spec["paths"].items()
        if path.startswith("/v1/")
        for method, op in ops.items()
    }
    assert found == API_OPERATIONS
    # The webhooks Overt sends are named as readably as the routes it serves.
    assert {name: ops["post"]["operationId"] for name, ops in spec["webhooks"].items()} == {
        "contact.intent_threshold_crossed": "intentThresholdCrossed",
        "contact.goal_completed": "goalCompleted",
        "contact.withdrawn": "contactWithdrawn",
        "contact.deleted": "contactDeleted",
    }
    assert spec["paths"]["/v1/query"]["post"]["tags"] == ["stats"]
    assert spec["paths"]["/v1/sites/{site_id}/contacts"]["get"]["tags"] == ["contacts"]
