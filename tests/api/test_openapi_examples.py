"""Every request and response of the three services' OpenAPI shows an example, valid against
its schema; and every request example, sent to a running Overt with a seeded site, key and
consented contact, is answered with a status its operation documents (the 2xx one).

`OVERT_RECORD_EXAMPLES=1` (`make openapi-examples`) rewrites the response examples and the
path parameters from those real answers, on SQLite, with the stand-ins of
tests/helpers/examples.py put back for what the run made up."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from services.api.transfer.service import claim_job, run_job
from services.cli import service_app
from services.consent.keys.service import load_site_keys
from services.consent.verification.service import sign_assertion
from shared.app import asgi_app
from shared.docs import EXAMPLE_MEDIA_TYPES, apply_examples
from shared.errors import PROBLEM_TYPES
from shared.settings import Settings
from tests.helpers.examples import (
    EXAMPLE_CREDENTIAL,
    EXAMPLE_FILES,
    EXAMPLE_FIRST_DAY,
    EXAMPLE_HOOK,
    EXAMPLE_LAST_DAY,
    EXAMPLE_MS,
    EXAMPLE_SECONDS,
    EXAMPLE_SITE,
    EXAMPLE_SUBJECT,
    EXAMPLE_TOKEN,
    operations,
    swapped,
    validator,
)
from tests.helpers.overt import Overt, overt_with
from tests.helpers.people import (
    auth,
    consent_site,
    consented_subject,
    full_key,
    name_subject,
    visit,
)

DOCUMENTED = Settings(
    database_url="postgresql+asyncpg://overt@db/overt",
    redis_url="redis://127.0.0.1:6379/0",
    secret_key="k" * 40,
)
RECORD = os.environ.get("OVERT_RECORD_EXAMPLES") == "1"

# Every operation with an example, in the order a client would call them: what a later one
# needs (a goal, a segment, a job) made first, removals last.
ORDER = [
    "healthz",
    "readyz",
    "metrics",
    "takeEvents",
    "takePlausibleEvents",
    "gpcSupport",
    "purposes",
    "notice",
    "widgetStrings",
    "keys",
    "siteJwks",
    "decide",
    "state",
    "token",
    "checkToken",
    "identityAssert",
    "identityEmail",
    "history",
    "handover",
    "export",
    "query",
    "afterTheClickReport",
    "funnelReport",
    "retentionReport",
    "putDefinition",
    "getDefinition",
    "createGoal",
    "listGoals",
    "createSegment",
    "listSegments",
    "getSegment",
    "updateSegment",
    "getRealtime",
    "listContacts",
    "getContact",
    "recordOutcome",
    "recordOutcome",  # the same outcome again: 200, nothing new
    "reportOutcomes",
    "createWebhook",
    "listWebhooks",
    "listWebhookDeliveries",
    "startExport",
    "exports",
    "exportState",
    "startImport",
    "imports",
    "importState",
    "deleteWebhook",
    "deleteGoal",
    "deleteSegment",
    "removeImport",
    "erase",
]
# Answers that are pages, scripts or files (no example shows those), and the preference
# page's form posts, which need its session cookie and form check.
NOT_CALLED = {
    "snippet",
    "widgetJs",
    "widgetCss",
    "cmpBridge",
    "preferencePage",
    "choose",
    "exportDownload",
    "erasePreferencePageForm",
    "email",
    "session",
    "verifyEmailPage",
    "verifyEmail",
    "exportFile",
    "openHandover",
}
# The id each created thing's path parameter takes, by the operation that creates it.
CREATES = {
    "createGoal": "goal_id",
    "createSegment": "segment_id",
    "createWebhook": "webhook_id",
    "startExport": "export",
    "startImport": "import",
}
METRICS_LINES = 12  # a scrape is long; the example shows its first lines


def served_spec(service: str) -> dict[str, Any]:
    spec: dict[str, Any] = service_app(DOCUMENTED, service).openapi()
    return spec


@pytest.mark.parametrize("service", ["collector", "consent", "api"])
def test_every_request_and_response_has_a_valid_example(service: str) -> None:
    spec = served_spec(service)
    bodies = 0
    for method, path, operation in operations(spec):
        where = f"{method} {path}"
        for param in operation.get("parameters", []):
            if param["in"] == "path":
                assert "example" in param, (where, param["name"])
                validator(spec, param["schema"]).validate(param["example"])
        request = operation.get("requestBody", {}).get("content", {})
        responses = [
            (status, media_type, content)
            for status, response in operation["responses"].items()
            for media_type, content in response.get("content", {}).items()
        ]
        for status, media_type, content in [("request", *item) for item in request.items()]:
            responses.append((status, media_type, content))
        for status, media_type, content in responses:
            if media_type not in EXAMPLE_MEDIA_TYPES:
                continue
            assert "example" in content, (where, status, media_type)
            validator(spec, content.get("schema", {})).validate(content["example"])
            if media_type == "application/problem+json":
                assert content["example"]["status"] == int(status), (where, status)
            bodies += 1
    for name, methods in spec.get("webhooks", {}).items():
        for operation in methods.values():
            content = operation["requestBody"]["content"]["application/json"]
            assert "example" in content, name
            validator(spec, content["schema"]).validate(content["example"])
            assert content["example"]["type"] == name
            bodies += 1
    assert bodies > {"collector": 20, "consent": 60, "api": 200}[service]


def test_the_problem_types_listed_are_the_ones_raised() -> None:
    """The Problem schema lists every slug the code raises (and none it does not)."""
    root = Path(__file__).parents[2]
    sources = [*root.glob("services/**/*.py"), *root.glob("shared/**/*.py")]
    raised: set[str] = set()
    for source in sources:
        text = source.read_text()
        raised |= set(re.findall(r'slug="([a-z-]+)"', text))
        raised |= set(re.findall(r'problems/([a-z-]+)"', text))
    spec = served_spec("api")
    described = spec["components"]["schemas"]["Problem"]["properties"]["type"]["description"]
    assert raised <= set(PROBLEM_TYPES), raised - set(PROBLEM_TYPES)
    for slug in PROBLEM_TYPES:
        assert f"`{slug}`" in described


def test_an_example_for_a_missing_operation_is_refused() -> None:
    spec = served_spec("collector")
    with pytest.raises(ValueError, match="noSuchOperation"):
        apply_examples(spec, {"noSuchOperation": {}})
    with pytest.raises(ValueError, match="no request body"):
        apply_examples(spec, {"takeEvents": {"request": {"text/csv": "x"}}})


class World:
    """What the examples stand in for, made for real in the app under test."""

    def __init__(self, overt: Overt) -> None:
        self.overt = overt
        self.swaps: dict[Any, Any] = {}
        self.ids: dict[str, str] = {}
        self.key = ""
        self.credential = ""

    async def seed(self) -> None:
        overt = self.overt
        site = await consent_site(overt)
        self.key = await full_key(overt)
        subject = await consented_subject(overt, site, "ada")
        await name_subject(overt, site, subject, "ada@example.com", display_name="Ada")
        await visit(overt, subject, "/", "/pricing", "/pricing")
        self.credential = subject.credential
        today = datetime.now(UTC).date()
        now = time.time()
        self.swaps = {
            EXAMPLE_SITE: site.id,
            EXAMPLE_SUBJECT: subject.subject_id,
            EXAMPLE_CREDENTIAL: subject.credential,
            EXAMPLE_TOKEN: subject.token,
            EXAMPLE_FIRST_DAY: (today - timedelta(days=6)).isoformat(),
            EXAMPLE_LAST_DAY: today.isoformat(),
            EXAMPLE_MS: int(now * 1000),
            EXAMPLE_SECONDS: int(now),
            EXAMPLE_HOOK: "http://127.0.0.1:9/hooks/overt",
        }
        self.ids = {
            "site_id": site.id,
            "subject_id": subject.subject_id,
            "version": "1",
            "source": "onetrust",
            "lang": "de",
        }

    def back(self, value: Any) -> Any:
        """A real answer with the stand-ins put back."""
        inverse = {
            real: stand_in
            for stand_in, real in self.swaps.items()
            if isinstance(real, str) and stand_in not in (EXAMPLE_CREDENTIAL, EXAMPLE_TOKEN)
        }
        return swapped(value, inverse)

    async def signed(self, body: dict[str, Any]) -> dict[str, Any]:
        """An identity assertion signed with the seeded site's secret."""
        async with self.overt.resources.engine.connect() as conn:
            keys = await load_site_keys(
                conn=conn,
                secret=self.overt.resources.settings.secret(),
                site_id=self.ids["site_id"],
            )
        assert keys is not None
        signature = sign_assertion(
            assertion_secret=keys.assertion_secret,
            site_id=self.ids["site_id"],
            subject_id=body["subject_id"],
            kind=body["kind"],
            value=body["value"],
            issued_at=body["issued_at"],
            display_name=body.get("display_name"),
        )
        return {**body, "signature": signature}

    def headers(self, operation_id: str, path: str) -> dict[str, str]:
        if path.startswith("/v1/"):
            return auth(self.key)
        if operation_id in (
            "state",
            "token",
            "history",
            "handover",
            "export",
            "erase",
            "identityEmail",
        ):
            return auth(self.credential)
        token = self.overt.resources.settings.metrics_token
        if operation_id == "metrics" and token is not None:
            return auth(token.get_secret_value())
        if operation_id in ("takeEvents", "takePlausibleEvents"):
            return {
                "origin": "https://example.com",
                "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
            }
        return {}

    def url(self, operation_id: str, path: str) -> str:
        ids = dict(self.ids)
        if operation_id in ("exportState", "exportFile"):
            ids["job_id"] = self.ids["export"]
        if operation_id in ("importState", "removeImport"):
            ids["job_id"] = self.ids["import"]
        return path.format(**ids)


async def finish_jobs(overt: Overt) -> None:
    engine = overt.resources.engine
    while (job_id := await claim_job(engine=engine)) is not None:
        await run_job(engine=engine, job_id=job_id, max_bytes=10**9, timeout_s=30)


@pytest.mark.anyio
async def test_every_request_example_is_answered_as_documented(settings: Settings) -> None:
    # The example webhook's host is swapped for a loopback address, which needs this.
    async with overt_with(settings, webhook_allow_private=True) as overt:
        await answered_as_documented(overt)


async def answered_as_documented(overt: Overt) -> None:
    spec = (await overt.client.get("/openapi.json")).json()
    by_id = {op["operationId"]: (method, path, op) for method, path, op in operations(spec)}
    assert set(ORDER) | NOT_CALLED == set(by_id)
    world = World(overt)
    await world.seed()
    loopback = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=asgi_app(overt.app), client=("127.0.0.1", 50001)),
        base_url="http://overt.test",
    )
    recorded: dict[str, Any] = {}
    async with loopback:
        for operation_id in ORDER:
            method, path, operation = by_id[operation_id]
            client = loopback if operation_id == "metrics" else overt.client
            url = world.url(operation_id, path)
            headers = world.headers(operation_id, path)
            params = {
                p["name"]: p["example"]
                for p in operation.get("parameters", [])
                if p["in"] == "query" and "example" in p
            }
            request = operation.get("requestBody", {}).get("content", {})
            sends: list[tuple[str | None, Any]] = [
                (media_type, swapped(content["example"], world.swaps))
                for media_type, content in request.items()
                if media_type in EXAMPLE_MEDIA_TYPES
            ] or [(None, None)]
            for media_type, body in sends:
                if operation_id == "identityAssert":
                    body = await world.signed(body)
                content: bytes | None = None
                if media_type is not None:
                    content = body.encode() if isinstance(body, str) else orjson.dumps(body)
                    headers = {**headers, "content-type": media_type}
                response = await client.request(
                    method, url, content=content, headers=headers, params=params
                )
                status = str(response.status_code)
                assert status in operation["responses"], (operation_id, status, response.text)
                assert response.is_success, (operation_id, media_type, response.text)
                answer = operation["responses"][status].get("content", {})
                if operation_id in CREATES:
                    world.ids[CREATES[operation_id]] = response.json()["id"]
                    if operation_id in ("startExport", "startImport"):
                        await finish_jobs(overt)
                if operation_id == "takeEvents":
                    await overt.drained()
                media = response.headers.get("content-type", "").split(";")[0]
                if media in answer and media in EXAMPLE_MEDIA_TYPES:
                    real: Any = response.text if media.startswith("text/") else response.json()
                    if operation_id == "metrics":
                        real = "\n".join(real.splitlines()[:METRICS_LINES]) + "\n"
                    validator(spec, answer[media].get("schema", {})).validate(real)
                    entry = recorded.setdefault(operation_id, {})
                    entry.setdefault("responses", {})[status] = {media: world.back(real)}
    for operation_id, (_, _, operation) in by_id.items():
        path_params = [p for p in operation.get("parameters", []) if p["in"] == "path"]
        if path_params:
            recorded.setdefault(operation_id, {})["parameters"] = {
                p["name"]: as_typed(
                    world.back(world.url(operation_id, "{" + p["name"] + "}")), p["schema"]
                )
                for p in path_params
            }
    if RECORD and overt.resources.settings.is_sqlite:
        write_recorded(recorded)


def as_typed(value: str, schema: dict[str, Any]) -> str | int:
    return int(value) if schema.get("type") == "integer" else value


def write_recorded(recorded: dict[str, Any]) -> None:
    """Put the recorded answers and path parameters into the example files, keeping the
    request examples (hand-written) and whatever was not recorded."""
    recorded.setdefault("exportDownload", {})["responses"] = recorded["export"]["responses"]
    health = {"healthz", "readyz", "metrics"}
    homes = {operation_id: "health" for operation_id in health}
    for service in ("collector", "consent", "api"):
        for _, _, operation in operations(served_spec(service)):
            homes.setdefault(operation["operationId"], service)
    files = {name: orjson.loads(path.read_bytes()) for name, path in EXAMPLE_FILES.items()}
    for operation_id, made in recorded.items():
        entry = files[homes[operation_id]].setdefault(operation_id, {})
        for part in ("parameters", "responses"):
            if part in made:
                entry[part] = {**entry.get(part, {}), **made[part]}
    for name, path in EXAMPLE_FILES.items():
        path.write_bytes(orjson.dumps(files[name], option=orjson.OPT_INDENT_2) + b"\n")
