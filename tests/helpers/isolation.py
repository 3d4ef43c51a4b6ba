"""The isolation tables: every /v1 operation, with what its isolation test sends.

Each table is run by its test module (another site's key, a revoked key, a key lacking the
scope, no key: each refused, nothing leaked); tests/api/test_openapi.py checks that every
operation in the OpenAPI is in one of them, so an endpoint added without its isolation test
fails there.
"""

from __future__ import annotations

from typing import Any

from shared.keys import KeyScope

# A filter to the visitors from Google (the funnel report tests use it as well).
GOOGLE_ONLY = {"dimension": "source", "op": "is", "values": ["Google"]}

# Every query and report endpoint, run by tests/api/test_reports.py:
# (path, JSON body beyond the site and the date range)
REPORT_ENDPOINTS: list[tuple[str, dict[str, Any]]] = [
    ("/v1/query", {"metrics": ["visitors"]}),
    ("/v1/reports/after-the-click", {}),
    ("/v1/reports/funnel", {"steps": [{"page": "/"}, {"goal": "Signup"}]}),
    (
        "/v1/reports/funnel",
        {"steps": [{"page": "/pricing"}, {"goal": "Signup"}], "filters": GOOGLE_ONLY},
    ),
    ("/v1/reports/retention", {}),
]


# The people-and-outcomes endpoints, run by tests/api/test_people_keys.py.
WEBHOOK = {"url": "http://127.0.0.1:9/hook", "events": ["contact.deleted"]}
OUTCOME = {"id": "o-1", "kind": "meeting_booked", "utm_campaign": "spring"}

# (method, path with {site} and {subject}/{hook}, the scope it needs, JSON body)
PEOPLE_ENDPOINTS = [
    ("GET", "/v1/sites/{site}/contacts", KeyScope.contacts_read, None),
    ("GET", "/v1/sites/{site}/contacts/{subject}", KeyScope.contacts_read, None),
    ("POST", "/v1/sites/{site}/outcomes", KeyScope.outcomes_write, OUTCOME),
    (
        "POST",
        "/v1/reports/outcomes",
        KeyScope.stats_read,
        {"site_id": "{site}", "date_range": ["2026-03-01", "2026-03-31"]},
    ),
    ("POST", "/v1/sites/{site}/webhooks", KeyScope.webhooks_manage, WEBHOOK),
    ("GET", "/v1/sites/{site}/webhooks", KeyScope.webhooks_manage, None),
    ("DELETE", "/v1/sites/{site}/webhooks/{hook}", KeyScope.webhooks_manage, None),
    ("GET", "/v1/sites/{site}/webhooks/{hook}/deliveries", KeyScope.webhooks_manage, None),
]


# The exports and imports of a site, run by tests/api/test_transfer.py:
# (method, path with {site}, {export} and {import}, the scope it needs, raw body)
TRANSFER_ENDPOINTS: list[tuple[str, str, KeyScope, bytes | None]] = [
    (
        "POST",
        "/v1/sites/{site}/exports",
        KeyScope.stats_read,
        b'{"date_range":["2026-01-01","2026-01-02"]}',
    ),
    ("GET", "/v1/sites/{site}/exports", KeyScope.stats_read, None),
    ("GET", "/v1/sites/{site}/exports/{export}", KeyScope.stats_read, None),
    ("GET", "/v1/sites/{site}/exports/{export}/file", KeyScope.stats_read, None),
    ("POST", "/v1/sites/{site}/imports", KeyScope.imports_write, b"date,visitors\n2026-01-01,3\n"),
    ("GET", "/v1/sites/{site}/imports", KeyScope.imports_write, None),
    ("GET", "/v1/sites/{site}/imports/{import}", KeyScope.imports_write, None),
    ("DELETE", "/v1/sites/{site}/imports/{import}", KeyScope.imports_write, None),
]


# /v1/sites/{site}/definitions, run by tests/api/test_definitions.py:
# (method, the scope it needs, JSON body)
DEFINITION_ENDPOINTS = [
    ("GET", KeyScope.stats_read, None),
    ("PUT", KeyScope.definitions_write, {"k": 7}),
]


# Goals, segments and realtime under /v1/sites/{site}, run by tests/api/test_goal_keys.py:
# (method, path with {site}, {goal} and {segment}, the scope it needs, JSON body)
GOAL = {"event": "Signup"}
SEGMENT = {"name": "From Google", "filters": GOOGLE_ONLY}
GOAL_ENDPOINTS = [
    ("GET", "/v1/sites/{site}/goals", KeyScope.stats_read, None),
    ("POST", "/v1/sites/{site}/goals", KeyScope.definitions_write, GOAL),
    ("DELETE", "/v1/sites/{site}/goals/{goal}", KeyScope.definitions_write, None),
    ("GET", "/v1/sites/{site}/segments", KeyScope.stats_read, None),
    ("POST", "/v1/sites/{site}/segments", KeyScope.definitions_write, SEGMENT),
    ("GET", "/v1/sites/{site}/segments/{segment}", KeyScope.stats_read, None),
    ("PUT", "/v1/sites/{site}/segments/{segment}", KeyScope.definitions_write, SEGMENT),
    ("DELETE", "/v1/sites/{site}/segments/{segment}", KeyScope.definitions_write, None),
    ("GET", "/v1/sites/{site}/realtime", KeyScope.stats_read, None),
]
