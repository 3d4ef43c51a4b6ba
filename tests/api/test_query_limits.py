"""Hostile queries on both backends: regular expressions that backtrack, queries past their
deadline, dates and versions beyond what the database holds, and the k of k-anonymity
(which version's k applies)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from services.api.keys.service import create_key
from shared.keys import KeyScope
from shared.models import events
from shared.runtime import open_resources
from shared.settings import Settings
from shared.sites import create_site
from tests.helpers.isolation import REPORT_ENDPOINTS
from tests.helpers.overt import Overt, make_app, running
from tests.helpers.problems import assert_problem
from tests.helpers.traffic import ask, days, traffic, visit

pytestmark = pytest.mark.anyio

# Python's re backtracks through 2^40 ways to fail on "/" + 40 a's + "/x" (hours); RE2 is
# linear in the text.
PATHOLOGICAL = r"^/(a+)+$"
LONG_PATH = "/" + "a" * 40


async def test_a_backtracking_pattern_is_answered_by_a_linear_engine(overt: Overt) -> None:
    await store_definition(
        engine=overt.resources.engine, site_id=overt.site.id, body=DefinitionIn(k=2)
    )
    for who in ("x", "y"):
        await visit(overt, who, LONG_PATH, engaged_ms=5_000)
    for who in ("v", "w"):
        await visit(overt, who, LONG_PATH + "/x", engaged_ms=5_000)
    await overt.drained()
    matches = {"dimension": "page", "op": "matches", "values": [PATHOLOGICAL]}
    response = await ask(overt, metrics=["visitors", "pageviews"], filters=matches)
    assert response.status_code == 200, response.text
    assert response.json()["results"] == [{"dimensions": [], "metrics": [2, 2]}]


@pytest.fixture
async def hurried(settings: Settings) -> AsyncIterator[Overt]:
    """Like `overt`, with a query deadline no real query meets."""
    tuned = settings.model_copy(update={"query_timeout_s": 0.001})
    async with open_resources(tuned) as resources:
        site = await create_site(engine=resources.engine, domain="example.com")
        await store_definition(engine=resources.engine, site_id=site.id, body=DefinitionIn(k=2))
        _, key = await create_key(
            engine=resources.engine, site_id=site.id, scopes=[KeyScope.stats_read]
        )
        app = make_app(resources)
        async with running(app) as client:
            yield Overt(resources=resources, app=app, client=client, site=site, key=key)


async def test_a_query_past_its_deadline_is_a_problem_not_a_stall(hurried: Overt) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)
    async with hurried.resources.engine.begin() as conn:
        await conn.execute(
            insert(events),
            [
                {
                    "event_id": uuid.uuid4(),
                    "site_id": hurried.site.id,
                    "occurred_at": now,
                    "name": "pageview",
                    "visitor_hash": i % 5_000,
                    "host": "example.com",
                    "path": f"/{'a' * (i % 30)}",
                    "referrer": None,
                }
                for i in range(20_000)
            ],
        )
    matches = {"dimension": "page", "op": "matches", "values": ["^/(a|aa)*$"]}
    response = await ask(
        hurried,
        metrics=["visitors", "engaged_time_p50"],
        dimensions=["page"],
        filters={"not": matches},
    )
    problem = assert_problem(response, 503, "query-timeout")
    assert "OVERT_QUERY_TIMEOUT_S" not in str(
        problem["detail"]
    )  # the operator's knob, not the caller's
    assert '"results"' not in response.text


SEEDED: set[str] = set()
UNSUPPORTED = st.sampled_from(
    [r"(a)\1", r"(?=a)b", r"(?!a)b", r"(?<=a)b", r"(?<!a)b", r"a++", r"a{2000}", r"(?P=x)", "["]
)


@settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    pattern=st.one_of(
        UNSUPPORTED,
        st.text(max_size=40),
        st.from_regex(r"[\\()\[\]{}?*+^$|a.]{1,20}", fullmatch=True),
    )
)
async def test_patterns_are_re2_or_a_422_never_a_500(overt: Overt, pattern: str) -> None:
    if overt.site.id not in SEEDED:  # a stored path, so the database runs the pattern
        await visit(overt, "x", LONG_PATH, engaged_ms=5_000)
        await overt.drained()
        SEEDED.add(overt.site.id)
    matches = {"dimension": "page", "op": "matches", "values": [pattern]}
    response = await ask(overt, metrics=["visitors"], filters=matches)
    assert response.status_code in (200, 422), response.text
    try:
        re2.compile(pattern)
    except re2.error:
        assert_problem(response, 422, "validation-error")


FAR_FUTURE = ["9999-12-30", "9999-12-31"]
BODIES: dict[str, dict[str, Any]] = {
    "/v1/query": {"metrics": ["visitors"]},
    "/v1/reports/after-the-click": {},
    "/v1/reports/funnel": {"steps": [{"page": "/"}, {"page": "/pricing"}]},
    "/v1/reports/retention": {},
}


async def post(overt: Overt, path: str, **body: Any) -> httpx.Response:
    return await overt.client.post(
        path,
        json={"site_id": overt.site.id, "date_range": days(), **BODIES[path], **body},
        headers={"authorization": f"Bearer {overt.key}"},
    )


@pytest.mark.parametrize("path", sorted(BODIES))
@pytest.mark.parametrize(
    "change",
    [
        {"date_range": FAR_FUTURE},
        {"date_range": ["0001-01-01", "0001-01-02"]},
        {"definition_version": 2**31},
        {"definition_version": 2**63},
    ],
)
async def test_dates_and_versions_beyond_storage_are_422(
    overt: Overt, path: str, change: dict[str, Any]
) -> None:
    assert_problem(await post(overt, path, **change), 422, "validation-error")


def test_every_report_endpoint_is_covered() -> None:
    assert {path for path, _ in REPORT_ENDPOINTS} == set(BODIES)


@pytest.mark.parametrize("version", [2**31, 2**63])
async def test_reading_a_definition_beyond_storage_is_422(overt: Overt, version: int) -> None:
    response = await overt.client.get(
        f"/v1/sites/{overt.site.id}/definitions",
        params={"version": version},
        headers={"authorization": f"Bearer {overt.key}"},
    )
    assert_problem(response, 422, "validation-error")


# --- k ---------------------------------------------------------------------------------------


async def test_an_old_version_never_lowers_k(overt: Overt) -> None:
    """The site raised k to 20; asking for version 0 (k=5 then) still answers under 20."""
    await traffic(overt)
    await store_definition(
        engine=overt.resources.engine, site_id=overt.site.id, body=DefinitionIn(k=20)
    )
    for version in (0, 1, None):
        response = await ask(
            overt, metrics=["visitors"], dimensions=["source"], definition_version=version
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["meta"]["k"] == 20
        assert body["meta"]["definition_version"] == (1 if version is None else version)
        # 17 visitors in all, under 20: every source folds, and the (other) row is left out.
        assert body["results"] == []
        assert body["meta"]["suppressed"] is True
    for path in sorted(BODIES):
        if path == "/v1/query":
            continue
        response = await post(overt, path, definition_version=0)
        assert response.status_code == 200, response.text
        assert response.json()["k"] == 20
    # Google's 6 visitors pass k=5 but not 20: a filter on them is refused under version 0.
    google = {"dimension": "source", "op": "is", "values": ["Google"]}
    funnel = await post(overt, "/v1/reports/funnel", definition_version=0, filters=google)
    assert_problem(funnel, 422, "k-anonymity")
    query = await ask(overt, metrics=["visitors"], filters=google, definition_version=0)
    assert_problem(query, 422, "k-anonymity")
