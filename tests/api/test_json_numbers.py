"""A number in a JSON body is a JSON number: `true`, `false` and "1" are refused (422, naming
the field), on every body of every service; query parameters are text, read as numbers.

pydantic's lax mode took `"limit": true` as 1 and `"k": "1"` as 1 (issue 17's fuzzing):
the API's numbers are `JsonInt` / `JsonFloat` (shared/storable.py). The collector's bodies
are decoded by msgspec, strict already; they are checked the same way here. Every numeric
field of the published request bodies is listed below: a new one fails the last test until
it is.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import orjson
import pytest

from services.cli import service_app
from shared.settings import Settings
from tests.helpers.overt import Overt
from tests.helpers.people import (
    assertion,
    auth,
    consent_site,
    consented_subject,
    full_key,
)
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

DAYS = ["2026-01-01", "2026-01-31"]
BROWSER = {
    "content-type": "text/plain",
    "origin": "https://example.com",
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
}
RULES = [
    {"kind": "page_repeat", "name": "a", "pattern": "/pricing", "min_visits": 2, "within_days": 7},
    {"kind": "engaged_on_page", "name": "b", "min_engaged_ms": 60_000},
    {"kind": "repeat_sessions", "name": "c", "min_sessions": 2, "within_days": 7},
    {"kind": "goal", "name": "d", "goal": "Signup", "min_count": 1},
]
WEIGHTS = ["per_engaged_second", "per_pageview", "per_high_intent_page", "per_goal"]

# Per operation (as OpenAPI names it), a body it takes (SITE: the site's id), with a plain
# number in each of its numeric fields. The consent assertion's is signed (`signed_body`).
BODIES: dict[str, Any] = {
    "POST /v1/query": {
        "site_id": "SITE",
        "date_range": DAYS,
        "metrics": ["visitors"],
        "limit": 5,
        "offset": 1,
        "definition_version": 0,
    },
    "POST /v1/reports/after-the-click": {
        "site_id": "SITE",
        "date_range": DAYS,
        "limit": 5,
        "definition_version": 0,
    },
    "POST /v1/reports/funnel": {
        "site_id": "SITE",
        "date_range": DAYS,
        "steps": [{"page": "/"}, {"page": "/pricing"}],
        "definition_version": 0,
    },
    "POST /v1/reports/retention": {"site_id": "SITE", "date_range": DAYS, "definition_version": 0},
    "POST /v1/reports/outcomes": {"site_id": "SITE", "date_range": DAYS, "k": 5},
    "POST /v1/sites/{site_id}/webhooks": {
        "kind": "slack",
        "url": "http://127.0.0.1:9/hook",
        "events": ["contact.intent_threshold_crossed"],
        "cooldown_hours": 12,
    },
    "PUT /v1/sites/{site_id}/definitions": {
        "engaged_min_ms": 10_000,
        "engaged_min_pageviews": 2,
        "engaged_min_goals": 1,
        "weights": {**dict.fromkeys(WEIGHTS, 1), "per_return_visit": 2.5, "cap": 100},
        "intent_rules": RULES,
        "intent_threshold": 30,
        "k": 5,
    },
    "POST /consent/sites/{site_id}/identity/assert": None,
    "POST /e": {
        "s": "SITE",
        "n": "pageview",
        "u": "https://example.com/pricing",
        "t": 1_700_000_000_000,
        "e": 1000,
        "d": 50,
        "g": 0,
        "h": 0,
        "c": 1,
    },
    "POST /api/event": {
        "n": "engagement",
        "u": "https://example.com/pricing",
        "d": "example.com",
        "e": 1000,
        "sd": 50,
    },
}

# (operation, where the number is in its body)
FIELDS: list[tuple[str, tuple[str | int, ...]]] = [
    ("POST /v1/query", ("limit",)),
    ("POST /v1/query", ("offset",)),
    ("POST /v1/query", ("definition_version",)),
    ("POST /v1/reports/after-the-click", ("limit",)),
    ("POST /v1/reports/after-the-click", ("definition_version",)),
    ("POST /v1/reports/funnel", ("definition_version",)),
    ("POST /v1/reports/retention", ("definition_version",)),
    ("POST /v1/reports/outcomes", ("k",)),
    ("POST /v1/sites/{site_id}/webhooks", ("cooldown_hours",)),
    *[
        ("PUT /v1/sites/{site_id}/definitions", (name,))
        for name in ("engaged_min_ms", "engaged_min_pageviews", "engaged_min_goals")
    ],
    ("PUT /v1/sites/{site_id}/definitions", ("intent_threshold",)),
    ("PUT /v1/sites/{site_id}/definitions", ("k",)),
    *[
        ("PUT /v1/sites/{site_id}/definitions", ("weights", name))
        for name in [*WEIGHTS, "per_return_visit", "cap"]
    ],
    *[
        ("PUT /v1/sites/{site_id}/definitions", ("intent_rules", index, name))
        for index, rule in enumerate(RULES)
        for name, value in rule.items()
        if isinstance(value, int)
    ],
    ("POST /consent/sites/{site_id}/identity/assert", ("issued_at",)),
    *[("POST /e", (name,)) for name in ("t", "e", "d", "g", "h", "c")],
    ("POST /api/event", ("e",)),
    ("POST /api/event", ("sd",)),
]
NOT_NUMBERS = [True, False, "1"]

# Numeric fields documented as something else too: left out of the list on purpose.
MORE_THAN_A_NUMBER = {
    # a decimal amount of money: a number or its decimal text (exact), never a boolean
    "POST /v1/sites/{site_id}/outcomes amount",
    "POST /api/event $.amount",
    "POST /api/event revenue.amount",
    # Plausible's tracker sends `h: 1`, its Events API `true`
    "POST /api/event h",
    # a prop's value is a string, a number or a boolean
    "POST /e p{}",
}


def field_id(operation: str, where: tuple[str | int, ...]) -> str:
    return operation + " " + ".".join(str(part) for part in where)


def put(body: Any, where: tuple[str | int, ...], value: object) -> Any:
    """A copy of `body` with `value` at `where`."""
    changed = copy.deepcopy(body)
    inner = changed
    for part in where[:-1]:
        inner = inner[part]
    inner[where[-1]] = value
    return changed


async def request(overt: Overt, operation: str, body: Any) -> Any:
    """`body` sent to `operation` as its client sends it: a key for the API, a browser's
    headers for the collector, neither for the consent service's signed assertion."""
    method, path = operation.split(" ")
    site = overt.site.id
    if body.get("site_id") == "SITE":
        body = {**body, "site_id": site}
    if body.get("s") == "SITE":
        body = {**body, "s": site, "i": uuid.uuid4().hex}
    url = path.replace("{site_id}", site)
    if path.startswith("/v1/"):
        return await overt.client.request(
            method, url, json=body, headers=auth(await full_key(overt))
        )
    if path.startswith("/consent/"):
        return await overt.client.request(method, url, json=body)
    return await overt.client.request(method, url, content=orjson.dumps(body), headers=BROWSER)


async def body_for(overt: Overt, operation: str) -> Any:
    body = BODIES[operation]
    if body is None:  # the identity assertion: signed, by a consented subject's site
        site = await consent_site(overt)
        subject = await consented_subject(overt, site, "numbers")
        body = await assertion(overt, site, subject, "ada@example.com")
    return body


@pytest.mark.parametrize("value", NOT_NUMBERS, ids=["true", "false", "digits"])
@pytest.mark.parametrize(("operation", "where"), FIELDS, ids=[field_id(*field) for field in FIELDS])
async def test_a_number_field_refuses_what_is_not_a_json_number(
    people: Overt, operation: str, where: tuple[str | int, ...], value: object
) -> None:
    body = await body_for(people, operation)
    response = await request(people, operation, put(body, where, value))
    problem = assert_problem(
        response,
        422,
        "invalid-event" if operation.endswith(("/e", "/api/event")) else "validation-error",
    )
    errors = problem["errors"]
    assert isinstance(errors, list)
    if operation.endswith(("/e", "/api/event")):  # msgspec's words, at "$.e"
        assert [error["loc"] for error in errors] == [f"$.{where[-1]}"]
        assert "got `bool`" in errors[0]["msg"] or "got `str`" in errors[0]["msg"]
    else:
        # Refused for its type (not, say, for 0 under a minimum), at the field.
        refused = [error for error in errors if error["type"] in ("int_type", "float_type")]
        assert len(refused) == 1, errors
        assert refused[0]["loc"][0] == "body"
        assert str(where[0]) in refused[0]["loc"]
        assert refused[0]["loc"][-1] == where[-1]


@pytest.mark.parametrize("operation", BODIES)
async def test_the_same_body_with_plain_numbers_is_taken(people: Overt, operation: str) -> None:
    response = await request(people, operation, await body_for(people, operation))
    assert 200 <= response.status_code < 300, response.text


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/sites/SITE/contacts", "limit"),
        ("/v1/sites/SITE/contacts", "offset"),
        ("/v1/sites/SITE/definitions", "version"),
        ("/v1/sites/SITE/realtime", "limit"),
    ],
)
async def test_a_number_in_a_query_is_digits_not_true(people: Overt, path: str, name: str) -> None:
    # Query parameters are text, read as numbers: "1" is 1, `true` is no number.
    url = path.replace("SITE", people.site.id)
    headers = auth(await full_key(people))
    refused = await people.client.get(url, params={name: "true"}, headers=headers)
    errors = assert_problem(refused, 422, "validation-error")["errors"]
    assert isinstance(errors, list)
    assert [error["loc"] for error in errors] == [["query", name]]
    answered = await people.client.get(
        url, params={name: "1" if name != "version" else "0"}, headers=headers
    )
    assert answered.status_code == 200, answered.text


def numeric_fields(document: dict[str, Any]) -> set[str]:
    """Every integer or number in a request body of `document`, as "OPERATION a.b[].c"."""
    components = document.get("components", {}).get("schemas", {})
    found: set[str] = set()

    def walk(schema: Any, operation: str, where: str, seen: frozenset[str]) -> None:
        if not isinstance(schema, dict):
            return
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(components[name], operation, where, seen | {name})
            return
        if schema.get("type") in ("integer", "number"):
            found.add(f"{operation} {where.removeprefix('[]').removeprefix('.')}")
        for key, value in schema.get("properties", {}).items():
            walk(value, operation, f"{where}.{key}", seen)
        for keyword in ("anyOf", "oneOf", "allOf"):
            for value in schema.get(keyword, []):
                walk(value, operation, where, seen)
        walk(schema.get("items"), operation, f"{where}[]", seen)
        walk(schema.get("additionalProperties"), operation, f"{where}{{}}", seen)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk(content.get("schema"), f"{method.upper()} {path}", "", frozenset())
    return found


@pytest.mark.parametrize("service", ["collector", "consent", "api"])
def test_every_numeric_field_of_a_body_is_listed(service: str) -> None:
    """The service's published OpenAPI (no database behind it) against FIELDS."""
    published = Settings(
        database_url="postgresql+asyncpg://overt@db/overt",
        redis_url="redis://127.0.0.1:6379/0",
        secret_key="k" * 40,
    )
    document = service_app(published, service).openapi()
    operations = {
        f"{method.upper()} {path}" for path, ops in document["paths"].items() for method in ops
    }
    listed = {
        f"{operation} "
        + ".".join("[]" if isinstance(part, int) else part for part in where).replace(".[]", "[]")
        for operation, where in FIELDS
        if operation in operations
    }
    assert listed  # each service's bodies have numbers
    assert numeric_fields(document) - MORE_THAN_A_NUMBER == listed
