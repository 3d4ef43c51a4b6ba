"""Every request and response of the three services' OpenAPI shows an example, valid against
its schema; and every request example, sent to a running Overt with a seeded site, key and
consented contact, is answered with a status its operation documents (the 2xx one).

`OVERT_RECORD_EXAMPLES=1` (`make openapi-examples`) rewrites the response examples, their
headers and the path parameters from those real answers, on SQLite, with the stand-ins of
tests/helpers/examples.py put back for what the run made up (ids, times, signatures: see
its Stabiliser). Without it, the SQLite run checks that the files hold exactly what it
would record: re-recording twice changes nothing, and an answer that changed is seen."""

from __future__ import annotations

import os
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest

from services.api.transfer.service import claim_job, run_job
from services.cli import service_app
from services.consent.keys.service import load_site_keys
from services.consent.verification.service import sign_assertion
from shared.app import asgi_app
from shared.docs import (
    EXAMPLE_MEDIA_TYPES,
    EXCERPT_MEDIA_TYPES,
    FILE_MEDIA_TYPES,
    FORM,
    INLINE_MEDIA_TYPES,
    apply_examples,
)
from shared.errors import PROBLEM_TYPES
from shared.settings import Settings
from shared.sites import Site
from tests.helpers.examples import (
    EXAMPLE_CREDENTIAL,
    EXAMPLE_CSRF,
    EXAMPLE_FILES,
    EXAMPLE_FIRST_DAY,
    EXAMPLE_HANDOVER,
    EXAMPLE_HOOK,
    EXAMPLE_LAST_DAY,
    EXAMPLE_MS,
    EXAMPLE_NONCE,
    EXAMPLE_SECONDS,
    EXAMPLE_SITE,
    EXAMPLE_SUBJECT,
    EXAMPLE_TOKEN,
    EXAMPLE_VERIFICATION,
    Stabiliser,
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
    "widgetJs",
    "widgetCss",
    "cmpBridge",
    "snippet",
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
    "openHandover",
    "preferencePage",  # the page's form token, for the form posts below
    "choose",
    "email",
    "verifyEmailPage",  # the link the form's mail carries
    "verifyEmail",
    "session",
    "exportDownload",
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
    "exportFile",
    "startImport",
    "imports",
    "importState",
    "deleteWebhook",
    "deleteGoal",
    "deleteSegment",
    "removeImport",
    "erasePreferencePageForm",
    "erase",
]
# Operations a client cannot call, each with the reason (none today: pages, scripts and
# files are fetched, and the preference page's forms posted with its cookies and form token).
NOT_CALLED: dict[str, str] = {}
# The id each created thing's path parameter takes, by the operation that creates it.
CREATES = {
    "createGoal": "goal_id",
    "createSegment": "segment_id",
    "createWebhook": "webhook_id",
    "startExport": "export",
    "startImport": "import",
}
# A scrape is long, and most of its values are the machine's (memory, CPU) or the whole test
# session's (counters): the example shows the queue's gauges, read at scrape time (an
# emptied queue: 0), so that re-recording gives the same example.
METRICS_SHOWN = ("overt_queue_depth", "overt_queue_lag_seconds")
EXCERPT_CHARS = 600  # a page, script or style: its first lines, about this long


def served_spec(service: str) -> dict[str, Any]:
    spec: dict[str, Any] = service_app(DOCUMENTED, service).openapi()
    return spec


@pytest.mark.parametrize("service", ["collector", "consent", "api"])
def test_every_request_and_response_has_a_valid_example(service: str) -> None:
    """Every parameter (path, query, header, cookie), request body and answer of every
    operation shows an example: JSON, text and forms inline, checked against their schema;
    pages, scripts and styles by a real excerpt; files (which no JSON document can inline)
    described. An answer without a body shows its headers (a redirect, its Location) or is
    a 204."""
    spec = served_spec(service)
    bodies = 0
    for method, path, operation in operations(spec):
        where = f"{method} {path}"
        for param in operation.get("parameters", []):
            assert "example" in param, (where, param["in"], param["name"])
            validator(spec, param["schema"]).validate(param["example"])
        request = operation.get("requestBody", {}).get("content", {})
        bodies += sum(shows_an_example(spec, where, "request", *item) for item in request.items())
        for status, response in operation["responses"].items():
            content = response.get("content", {})
            headers = response.get("headers", {})
            bodies += sum(shows_an_example(spec, where, status, *item) for item in content.items())
            for name, header in headers.items():
                assert "example" in header, (where, status, name)
                validator(spec, header["schema"]).validate(header["example"])
            if status.startswith("3"):
                assert "Location" in headers, (where, status)
            elif not content:
                assert status == "204" or headers, (where, status, "neither a body nor headers")
    for name, methods in spec.get("webhooks", {}).items():
        for operation in methods.values():
            content = operation["requestBody"]["content"]["application/json"]
            assert "example" in content, name
            validator(spec, content["schema"]).validate(content["example"])
            assert content["example"]["type"] == name
            bodies += 1
    assert bodies > {"collector": 20, "consent": 80, "api": 200}[service]


def shows_an_example(
    spec: dict[str, Any], where: str, status: str, media_type: str, content: dict[str, Any]
) -> bool:
    """Whether (else why not, by assertion) one body shows its example."""
    if media_type in FILE_MEDIA_TYPES:
        described = content.get("examples", {})
        assert described, (where, status, media_type, "a file's example is described")
        for example in described.values():
            assert example.get("summary"), (where, status)
            assert example.get("description"), (where, status)
        return True
    assert media_type in INLINE_MEDIA_TYPES, (where, status, media_type, "which example?")
    assert "example" in content, (where, status, media_type)
    example = content["example"]
    validator(spec, content.get("schema", {})).validate(example)
    if media_type == "application/problem+json":
        assert example["status"] == int(status), (where, status)
    if media_type in EXCERPT_MEDIA_TYPES:
        assert example.strip(), (where, status, media_type)
    return True


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
    with pytest.raises(ValueError, match="no 202 header X-Nope"):
        apply_examples(spec, {"takeEvents": {"headers": {"202": {"X-Nope": "1"}}}})
    with pytest.raises(ValueError, match="no 200 file application/zip"):
        apply_examples(spec, {"snippet": {"files": {"200": {"application/zip": {}}}}})


class World:
    """What the examples stand in for, made for real in the app under test."""

    def __init__(self, overt: Overt) -> None:
        self.overt = overt
        self.swaps: dict[Any, Any] = {}
        self.ids: dict[str, str] = {}
        self.key = ""
        self.credential = ""
        self.stabiliser: Stabiliser | None = None
        self.site: Site | None = None

    async def seed(self) -> None:
        overt = self.overt
        site = self.site = await consent_site(overt)
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
            EXAMPLE_NONCE: secrets.token_urlsafe(24),
        }
        dates = (EXAMPLE_FIRST_DAY, EXAMPLE_LAST_DAY)
        self.stabiliser = Stabiliser(
            today=today,
            swaps={
                real: stand_in
                for stand_in, real in self.swaps.items()
                if isinstance(real, str) and stand_in not in (EXAMPLE_TOKEN, *dates)
            },
        )
        self.ids = {
            "site_id": site.id,
            "subject_id": subject.subject_id,
            "version": "1",
            "source": "onetrust",
            "lang": "de",
        }

    def back(self, value: Any) -> Any:
        """A real answer with the stand-ins put back, and what the run made up (ids,
        times, signatures) made stable."""
        assert self.stabiliser is not None
        return self.stabiliser(value)

    def learn(self, operation_id: str, response: httpx.Response) -> None:
        """What a later example stands in for, from an answer: the hand-over link's token,
        the page's form token, the verification link a mail carried."""
        if operation_id == "handover":
            self.swaps[EXAMPLE_HANDOVER] = response.json()["url"].rsplit("token=", 1)[1]
        if operation_id == "preferencePage":
            found = re.search(r'name="csrf" value="([^"]+)"', response.text)
            assert found is not None, response.text
            self.swaps[EXAMPLE_CSRF] = found.group(1)

    async def prepare(self, operation_id: str) -> None:
        """What an operation needs made just before it: the page's erase form erases a
        visitor of its own (the API's erasure, last, still has Ada's credential)."""
        if operation_id == "erasePreferencePageForm":
            assert self.site is not None
            other = await consented_subject(self.overt, self.site, "bob")
            self.swaps[EXAMPLE_CREDENTIAL] = other.credential

    def mailed(self, caplog: pytest.LogCaptureFixture) -> None:
        links = [r.getMessage() for r in caplog.records if "verification link" in r.getMessage()]
        assert links, "no verification link was mailed (logged, without SMTP)"
        self.swaps[EXAMPLE_VERIFICATION] = links[-1].rsplit("token=", 1)[1]

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
        if operation_id == "session":  # the widget's post, from the site's page
            return {"origin": "https://example.com"}
        if operation_id == "openHandover":  # the widget's link, followed from the site
            return {"referer": "https://example.com/"}
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
async def test_every_request_example_is_answered_as_documented(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # The example webhook's host is swapped for a loopback address, which needs this.
    async with overt_with(settings, webhook_allow_private=True) as overt:
        await answered_as_documented(overt, caplog)


async def answered_as_documented(overt: Overt, caplog: pytest.LogCaptureFixture) -> None:
    spec = (await overt.client.get("/openapi.json")).json()
    by_id = {op["operationId"]: (method, path, op) for method, path, op in operations(spec)}
    assert set(ORDER) | set(NOT_CALLED) == set(by_id)
    assert not set(ORDER) & set(NOT_CALLED)
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
            if operation_id == "verifyEmailPage":
                world.mailed(caplog)
            await world.prepare(operation_id)
            given = {
                (p["in"], p["name"]): swapped(p["example"], world.swaps)
                for p in operation.get("parameters", [])
                if "example" in p
            }
            params = {name: value for (where, name), value in given.items() if where == "query"}
            cookies = [
                f"{name}={value}" for (where, name), value in given.items() if where == "cookie"
            ]
            if cookies:
                headers = {**headers, "cookie": "; ".join(cookies)}
            request = operation.get("requestBody", {}).get("content", {})
            sends: list[tuple[str | None, Any]] = [
                (media_type, swapped(content["example"], world.swaps))
                for media_type, content in request.items()
                if media_type in (*EXAMPLE_MEDIA_TYPES, FORM)
            ] or [(None, None)]
            for media_type, body in sends:
                if operation_id == "identityAssert":
                    body = await world.signed(body)
                content: bytes | None = None
                if media_type == FORM:
                    content = urlencode(body).encode()
                elif media_type is not None:
                    content = body.encode() if isinstance(body, str) else orjson.dumps(body)
                if media_type is not None:
                    headers = {**headers, "content-type": media_type}
                response = await client.request(
                    method, url, content=content, headers=headers, params=params
                )
                client.cookies.clear()  # what a call sends is what its example shows
                world.learn(operation_id, response)
                status = str(response.status_code)
                assert status in operation["responses"], (operation_id, status, response.text)
                assert response.is_success or response.is_redirect, (operation_id, response.text)
                answer = operation["responses"][status].get("content", {})
                if operation_id in CREATES:
                    world.ids[CREATES[operation_id]] = response.json()["id"]
                    if operation_id in ("startExport", "startImport"):
                        await finish_jobs(overt)
                if operation_id == "takeEvents":
                    await overt.drained()
                media = response.headers.get("content-type", "").split(";")[0]
                if answer or media in FILE_MEDIA_TYPES:
                    assert media in answer, (operation_id, status, media)
                entry = recorded.setdefault(operation_id, {})
                for name in operation["responses"][status].get("headers", {}):
                    if name in response.headers:
                        made = entry.setdefault("headers", {}).setdefault(status, {})
                        made[name] = world.back(response.headers[name])
                if media in answer and media in INLINE_MEDIA_TYPES:
                    real: Any = response.text if media.startswith("text/") else response.json()
                    if operation_id == "metrics":
                        real = metrics_excerpt(real)
                    if media in EXCERPT_MEDIA_TYPES:
                        real = excerpt(real)
                    validator(spec, answer[media].get("schema", {})).validate(real)
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
    if overt.resources.settings.is_sqlite:
        files = recorded_files(recorded)
        if RECORD:
            for name, home in EXAMPLE_FILES.items():
                home.write_bytes(files[name])
        for name, home in EXAMPLE_FILES.items():
            # A run reproduces the files byte for byte: what a run makes up is stabilised
            # (tests/helpers/examples.Stabiliser), so a difference is an answer that changed.
            assert home.read_bytes() == files[name], (
                f"{home}: the recorded examples differ from this run's answers; re-record "
                "them (make openapi-examples) and read the diff"
            )


def metrics_excerpt(scrape: str) -> str:
    """The lines of a scrape about the METRICS_SHOWN families, as served."""
    shown = [
        line
        for line in scrape.splitlines()
        if line.removeprefix("# HELP ").removeprefix("# TYPE ").startswith(METRICS_SHOWN)
    ]
    assert len(shown) == 3 * len(METRICS_SHOWN), shown
    return "\n".join(shown) + "\n"


def excerpt(text: str) -> str:
    """A page's, script's or style's first EXCERPT_CHARS characters as served, ended at a
    line's end where one is near (a minified file's one long line is cut)."""
    cut = text[:EXCERPT_CHARS]
    end = cut.rfind("\n", EXCERPT_CHARS // 2)
    return cut[: end + 1] if end >= 0 else cut


def as_typed(value: str, schema: dict[str, Any]) -> str | int:
    return int(value) if schema.get("type") == "integer" else value


def recorded_files(recorded: dict[str, Any]) -> dict[str, bytes]:
    """The example files with the recorded answers, headers and path parameters put in,
    keeping the request examples (hand-written) and whatever was not recorded."""
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
        for status, headers in made.get("headers", {}).items():
            kept = entry.setdefault("headers", {}).get(status, {})
            entry["headers"][status] = {**kept, **headers}  # one not sent stays as written
    return {
        name: orjson.dumps(files[name], option=orjson.OPT_INDENT_2) + b"\n"
        for name in EXAMPLE_FILES
    }
