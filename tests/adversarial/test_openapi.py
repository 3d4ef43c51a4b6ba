"""schemathesis against the OpenAPI of each service, served live on loopback.

Every operation gets a bounded number of generated requests (a fixed seed, so a run is
reproducible): no 5xx, every status code documented, every body matching its schema.
`make fuzz` runs the same with many more examples (OVERT_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import ChecksConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from services.cli import service_app
from shared.settings import Settings
from tests.helpers.live import Live

FUZZ = "OVERT_FUZZ_EXAMPLES" in os.environ
# 12 seeded examples an operation in `make test` (one backend each, see conftest.py).
EXAMPLES = int(os.environ.get("OVERT_FUZZ_EXAMPLES", "12"))
# A regex over operation names ("GET /v1/sites/{site_id}/definitions"): only those are
# generated. `-k` would deselect the others only after generating every coverage case.
OPERATIONS = os.environ.get("OVERT_FUZZ_OPERATIONS")
# OVERT_FUZZ_COVERAGE=0: `make fuzz` without the coverage phase. Its cases are built while
# the tests are collected, for every selected operation before the first request: for the
# API's filter trees (/v1/query, the reports, segments) that took over 7 CPU-minutes and
# 3.7 GB per process, still unfinished, on a loaded two-core machine.
COVERAGE = FUZZ and os.environ.get("OVERT_FUZZ_COVERAGE", "1") != "0"
# The snippet sends JSON as text/plain (a CORS-simple request): serialise it as JSON.
schemathesis.serializer.alias("text/plain", "application/json")
# Schema-valid is not always acceptable: an unknown site, a page on another host or a date
# range the wrong way round is a documented 4xx. Everything else is checked.
EXCLUDED = [positive_data_acceptance]
SITE_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
# The collector's Plausible intake: a browser's events without a key, a backend's with one.
INTAKE = "POST /api/event"


def service_schema(service: str) -> Any:
    """The service's OpenAPI document, as `overt serve SERVICE` publishes it."""
    documented = Settings(
        database_url="postgresql+asyncpg://overt@db/overt",
        redis_url="redis://127.0.0.1:6379/0",
        secret_key="k" * 40,
    )
    schema = schemathesis.openapi.from_dict(service_app(documented, service).openapi())
    # An invalid body over the size limit is refused for its size (413) before it is parsed;
    # schemathesis's default list of rejections for invalid data lacks 413.
    default = ChecksConfig().negative_data_rejection.expected_statuses
    schema.config.checks = ChecksConfig.from_dict(
        {"negative_data_rejection": {"expected-statuses": [*default, "413"]}}
    )
    # schemathesis's coverage phase adds a case per schema keyword combination, unbounded by
    # max_examples: for /v1/query's grown body (ranges, comparisons, nested behavioural
    # filters) that is thousands of requests. The bounded slice in `make test` runs the
    # examples and a seeded fuzz; `make fuzz` runs the coverage phase too.
    schema.config.phases.coverage.enabled = COVERAGE
    return schema


def filter_tree_operations(document: dict[str, Any]) -> list[str]:
    """The operations whose body holds a filter tree ("POST /v1/query", the reports, the
    segments): the tree is recursive, and the coverage phase's cases for it are built from
    every keyword combination of every level, which never finished here (see COVERAGE)."""
    components = document.get("components", {}).get("schemas", {})

    def named(value: Any) -> set[str]:
        return set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(value)))

    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            seen: set[str] = set()
            todo = named(operation.get("requestBody", {}))
            while todo:
                component = todo.pop()
                if component not in seen:
                    seen.add(component)
                    todo |= named(components.get(component, {}))
            if any(component.startswith("AllOf") for component in seen):
                found.append(f"{method.upper()} {path}")
    return found


def fuzzed_schemas() -> dict[str, Any]:
    """Each service's schema, without the services OVERT_FUZZ_OPERATIONS leaves no operation of.

    With the coverage phase on, the API's filter-tree operations are a schema of their own
    (`api-trees`) fuzzed without it: examples and 500 generated cases each, as the others."""
    schemas = {name: service_schema(name) for name in ("collector", "consent", "api")}
    if OPERATIONS is not None:
        schemas = {name: schema.include(name_regex=OPERATIONS) for name, schema in schemas.items()}
    trees = [
        name
        for name in filter_tree_operations(schemas["api"].raw_schema)
        if OPERATIONS is None or re.search(OPERATIONS, name)
    ]
    if COVERAGE and trees:
        # One filter, not two: a second include() widens the selection rather than narrowing it.
        schemas["api"] = schemas["api"].exclude(name=trees)
        schemas["api-trees"] = service_schema("api").include(name=trees)
        schemas["api-trees"].config.phases.coverage.enabled = False
    return {name: schema for name, schema in schemas.items() if any(schema.get_all_operations())}


@schemathesis.pytest.parametrize(**fuzzed_schemas())
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_responses_match_the_documented_schema(case: Any, live: Live) -> None:
    call_and_validate(case, live)


def keyed_operation() -> Any:
    """One operation behind a key, fuzzed only: enough of its cases drop the Authorization
    header that a harness putting the key back on the wire is caught in `make test`."""
    schema = service_schema("api").include(name="GET /v1/sites/{site_id}/definitions")
    schema.config.phases.examples.enabled = False
    schema.config.phases.coverage.enabled = False
    return schema


@schemathesis.pytest.parametrize(api=keyed_operation())
@settings(
    max_examples=100, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
def test_a_negated_key_is_sent_as_generated(case: Any, live: Live) -> None:
    # `make fuzz` found GET /v1/sites/{site_id}/definitions "accepting" `?=0.0` without a
    # key: the case had no key, the test had put one on the wire (ST201, never the API's).
    call_and_validate(case, live)


def tracker_intake() -> Any:
    """POST /api/event as Plausible's tracker sends it: no key, from a page of the site (the
    keyed run in test_responses_match_the_documented_schema is a backend's)."""
    return service_schema("collector").include(name=INTAKE)


@schemathesis.pytest.parametrize(collector=tracker_intake())
@settings(
    max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
def test_the_tracker_intake_without_a_key(case: Any, live: Live) -> None:
    on_the_live_site(case)
    if case.meta is None or not case.meta.is_negative_at(ParameterLocation.HEADER):
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        case.headers = {**headers, "Origin": "https://example.com"}
    case.call_and_validate(base_url=live.url, timeout=10, excluded_checks=EXCLUDED)


def call_and_validate(case: Any, live: Live) -> None:
    site_id = (case.path_parameters or {}).get("site_id")
    if isinstance(site_id, str) and SITE_ID.fullmatch(site_id):
        case.path_parameters["site_id"] = live.site_id  # a well-formed id: make it a real one
    if f"{case.method.upper()} {case.path}" == INTAKE:
        # A backend's events: its ingest key (events:write), and its visitor's IP.
        on_the_live_site(case)
        if case.meta is None or not case.meta.is_negative_at(ParameterLocation.HEADER):
            case.headers = {**(case.headers or {}), "X-Forwarded-For": "203.0.113.7"}
        with_key(case, live.ingest_key)
    else:
        with_key(case, live.key)
    case.call_and_validate(base_url=live.url, timeout=10, excluded_checks=EXCLUDED)


def on_the_live_site(case: Any) -> None:
    """A generated /api/event body (unless it is what the case negates) made to reach past
    the lookups: each event's domain made the site's, its URL a page of it whose path is
    the generated text, and a name, a URL and a domain where it has none (the schema cannot
    say one of two keys is required). Without this, nearly every case was an unknown site
    (404), another host (403) or a missing field (422): nothing behind them was reached."""
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.BODY):
        return
    for event in case.body if isinstance(case.body, list) else [case.body]:
        if not isinstance(event, dict):
            continue
        for key in ("d", "domain"):
            if isinstance(event.get(key), str):
                event[key] = "example.com"
        for key in ("u", "url"):
            if isinstance(event.get(key), str):
                event[key] = f"https://example.com/{event[key]}"
        event.setdefault("name" if "name" in event else "n", "pageview")
        event.setdefault("url" if "url" in event else "u", "https://example.com/")
        event.setdefault("domain" if "domain" in event else "d", "example.com")


def with_key(case: Any, key: str) -> None:
    """The live API key as the case's Authorization, unless its headers are what it negates.

    On the case itself, not only on the request: the checks judge the case, and a case whose
    negation was a missing key, sent with one, looked like invalid data the API accepted.
    A negated key is sent as generated: missing or malformed, it must be refused.
    """
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        return
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    case.headers = {**headers, "Authorization": f"Bearer {key}"}
