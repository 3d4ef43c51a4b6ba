"""Engagement definitions: versioned per site over HTTP, append-only in the database,
and the pure scoring the contacts feature calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from services.api.engagement.rules import PageVisit, SessionFacts, score
from services.api.engagement.schemas import (
    Definition,
    EngagedOnPageRule,
    GoalRule,
    PageRepeatRule,
    RepeatSessionsRule,
    ScoreWeights,
)
from services.api.engagement.service import current_definition, definition_at
from services.api.keys.service import create_key, revoke_key
from shared.keys import KeyScope
from shared.sites import SiteSettings, create_site
from tests.helpers.isolation import DEFINITION_ENDPOINTS
from tests.helpers.overt import Overt
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio


async def writer_key(overt: Overt, site_id: str | None = None) -> str:
    _, secret = await create_key(
        engine=overt.resources.engine,
        site_id=site_id or overt.site.id,
        scopes=[KeyScope.stats_read, KeyScope.definitions_write],
    )
    return secret


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    "body",
    [
        {"intent_threshold": False},
        {"k": True},
        {"engaged_min_ms": "10000"},
        {"weights": {"cap": "100"}},
        {"intent_rules": [{"kind": "goal", "name": "g", "goal": "Signup", "min_count": True}]},
    ],
    ids=["false", "true", "digits", "nested digits", "rule"],
)
async def test_a_number_is_a_json_number(overt: Overt, body: dict[str, object]) -> None:
    # make fuzz's coverage phase: `"intent_threshold": false` was stored as 0.0 (200), where
    # the documented schema says number; pydantic's lax mode takes booleans and digit strings.
    url = f"/v1/sites/{overt.site.id}/definitions"
    response = await overt.client.put(url, json=body, headers=auth(await writer_key(overt)))
    assert_problem(response, 422, "validation-error")
    assert (await overt.client.get(url, headers=auth(overt.key))).json()["version"] == 0


async def test_every_put_appends_a_version_and_old_ones_stay(overt: Overt) -> None:
    url = f"/v1/sites/{overt.site.id}/definitions"
    first = await overt.client.get(url, headers=auth(overt.key))
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 0
    assert first.json()["engaged_min_ms"] == 10_000
    assert first.json()["k"] == 5

    writer = await writer_key(overt)
    body = {
        "engaged_min_ms": 30_000,
        "high_intent_pages": ["/pricing*"],
        "intent_rules": [{"kind": "page_repeat", "name": "pricing twice", "pattern": "/pricing*"}],
        "k": 3,
    }
    put = await overt.client.put(url, json=body, headers=auth(writer))
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 1
    put = await overt.client.put(url, json={**body, "k": 7}, headers=auth(writer))
    assert put.json()["version"] == 2

    latest = (await overt.client.get(url, headers=auth(overt.key))).json()
    assert (latest["version"], latest["k"], latest["engaged_min_ms"]) == (2, 7, 30_000)
    assert latest["intent_rules"][0]["min_visits"] == 2  # defaults filled in and kept
    old = (await overt.client.get(url, params={"version": 1}, headers=auth(overt.key))).json()
    assert (old["version"], old["k"]) == (1, 3)
    zero = (await overt.client.get(url, params={"version": 0}, headers=auth(overt.key))).json()
    assert (zero["version"], zero["k"]) == (0, 5)
    missing = await overt.client.get(url, params={"version": 9}, headers=auth(overt.key))
    assert_problem(missing, 404, "unknown-definition-version")

    engine = overt.resources.engine
    assert (await current_definition(engine, overt.site.id)).version == 2
    at_one = await definition_at(engine, overt.site.id, 1)
    assert at_one is not None
    assert at_one.k == 3


async def test_version_zero_follows_the_site_settings(overt: Overt) -> None:
    site = await create_site(
        engine=overt.resources.engine,
        domain="slow.example",
        settings=SiteSettings(engaged_min_ms=60_000, engaged_min_pageviews=4),
    )
    definition = await current_definition(overt.resources.engine, site.id)
    assert (definition.version, definition.engaged_min_ms, definition.engaged_min_pageviews) == (
        0,
        60_000,
        4,
    )


async def test_stored_versions_cannot_be_rewritten(overt: Overt) -> None:
    url = f"/v1/sites/{overt.site.id}/definitions"
    assert (await overt.client.put(url, json={}, headers=auth(await writer_key(overt)))).is_success
    with pytest.raises(Exception, match="append-only"):
        async with overt.resources.engine.begin() as conn:
            await conn.execute(text("UPDATE engagement_definitions SET version = 5"))
    assert (await current_definition(overt.resources.engine, overt.site.id)).version == 1


async def test_isolation_scope_site_and_revocation(overt: Overt) -> None:
    url = f"/v1/sites/{overt.site.id}/definitions"
    writer = await writer_key(overt)
    assert (await overt.client.put(url, json={"k": 9}, headers=auth(writer))).is_success

    # A stats-only key reads but cannot write.
    assert_problem(
        await overt.client.put(url, json={"k": 2}, headers=auth(overt.key)), 403, "missing-scope"
    )
    # A key of another site neither reads nor writes this one.
    other = await create_site(engine=overt.resources.engine, domain="other.example")
    stranger = await writer_key(overt, other.id)
    response = await overt.client.get(url, headers=auth(stranger))
    assert_problem(response, 403, "wrong-site")
    assert '"k"' not in response.text
    assert_problem(
        await overt.client.put(url, json={"k": 2}, headers=auth(stranger)), 403, "wrong-site"
    )
    # Without a key, or with a revoked one: 401.
    assert_problem(await overt.client.get(url), 401, "api-key-required")
    key_id = writer.split("_")[1]
    assert await revoke_key(engine=overt.resources.engine, key_id=key_id)
    assert_problem(
        await overt.client.put(url, json={}, headers=auth(writer)), 401, "invalid-api-key"
    )
    assert (await current_definition(overt.resources.engine, overt.site.id)).k == 9


@pytest.mark.parametrize(("method", "scope", "body"), DEFINITION_ENDPOINTS, ids=["GET", "PUT"])
async def test_each_method_refuses_other_site_revoked_and_unscoped_keys(
    overt: Overt, method: str, scope: KeyScope, body: dict[str, int] | None
) -> None:
    url = f"/v1/sites/{overt.site.id}/definitions"
    engine = overt.resources.engine

    async def call(secret: str | None) -> httpx.Response:
        headers = auth(secret) if secret else {}
        return await overt.client.request(method, url, json=body, headers=headers)

    other = await create_site(engine=engine, domain="other.example")
    _, stranger = await create_key(engine=engine, site_id=other.id, scopes=list(KeyScope))
    refused = assert_problem(await call(stranger), 403, "wrong-site")
    assert '"k"' not in str(refused)
    _, unscoped = await create_key(
        engine=engine, site_id=overt.site.id, scopes=[s for s in KeyScope if s != scope]
    )
    assert_problem(await call(unscoped), 403, "missing-scope")
    key, secret = await create_key(engine=engine, site_id=overt.site.id, scopes=[scope])
    assert (await call(secret)).status_code == 200
    assert await revoke_key(engine=engine, key_id=key.id)
    assert_problem(await call(secret), 401, "invalid-api-key")
    assert_problem(await call(None), 401, "api-key-required")
    # Only the allowed PUT changed anything: version 1 with k = 7, or still version 0.
    current = await current_definition(engine, overt.site.id)
    assert (current.version, current.k) == ((1, 7) if method == "PUT" else (0, 5))


async def test_k_goes_from_one_to_fifty(overt: Overt) -> None:
    """k = 1 turns k-anonymity off (an explicit choice); 50 is the most a site may ask."""
    url = f"/v1/sites/{overt.site.id}/definitions"
    writer = await writer_key(overt)
    for k in (1, 50):
        response = await overt.client.put(url, json={"k": k}, headers=auth(writer))
        assert response.status_code == 200, response.text
        assert (await current_definition(overt.resources.engine, overt.site.id)).k == k


@pytest.mark.parametrize(
    "body",
    [
        {"k": 0},
        {"k": 51},
        {"engaged_min_pageviews": 0},
        {"high_intent_pages": ["pricing"]},
        {"intent_rules": [{"kind": "telepathy", "name": "x"}]},
        {"weights": {"per_goal": -1}},
        {"surprise": True},
    ],
)
async def test_bad_definitions_are_422(overt: Overt, body: dict[str, object]) -> None:
    url = f"/v1/sites/{overt.site.id}/definitions"
    response = await overt.client.put(url, json=body, headers=auth(await writer_key(overt)))
    assert assert_problem(response, 422, "validation-error")["errors"]
    assert (await current_definition(overt.resources.engine, overt.site.id)).version == 0


DAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_score_is_the_weighted_sum_explained_and_capped() -> None:
    definition = Definition(
        version=4,
        high_intent_pages=("/pricing*",),
        weights=ScoreWeights(
            per_engaged_second=0.5,
            per_pageview=1,
            per_high_intent_page=4,
            per_goal=10,
            per_return_visit=3,
            cap=100,
        ),
    )
    sessions = [
        SessionFacts(
            started_at=DAY,
            engaged_ms=20_000,
            pageviews=3,
            pages=(PageVisit("/", DAY), PageVisit("/pricing", DAY), PageVisit("/docs", DAY)),
        ),
        SessionFacts(
            started_at=DAY + timedelta(days=1),
            engaged_ms=4_000,
            pageviews=1,
            goals=("Signup",),
            pages=(PageVisit("/pricing/team", DAY + timedelta(days=1)),),
        ),
    ]
    result = score(definition, sessions)
    # 24 s x 0.5 = 12; 4 pages x 1 = 4; 2 pricing pages x 4 = 8; 1 goal x 10; 1 return x 3
    points = {c.signal: c.points for c in result.contributions}
    assert points == {
        "engaged_seconds": 12,
        "pageviews": 4,
        "high_intent_pages": 8,
        "goals": 10,
        "return_visits": 3,
    }
    assert result.value == 37
    assert result.definition_version == 4
    capped = score(definition.model_copy(update={"weights": ScoreWeights(cap=20)}), sessions)
    assert capped.value == 20
    assert capped.uncapped > 20


def test_intent_needs_a_matched_rule_and_the_threshold() -> None:
    pricing = PageRepeatRule(name="pricing twice", pattern="/pricing*", within_days=7)
    long_read = EngagedOnPageRule(name="long pricing read", min_engaged_ms=120_000)
    back = RepeatSessionsRule(name="came back", min_sessions=2, within_days=3)
    demo = GoalRule(name="asked for demo", goal="Demo")
    definition = Definition(
        version=1,
        high_intent_pages=("/pricing*",),
        intent_rules=(pricing, long_read, back, demo),
        intent_threshold=10,
    )

    def visit(day: int, path: str = "/pricing", engaged_ms: int = 0) -> SessionFacts:
        at = DAY + timedelta(days=day)
        return SessionFacts(
            started_at=at,
            engaged_ms=engaged_ms,
            pageviews=1,
            pages=(PageVisit(path, at, engaged_ms),),
        )

    one = score(definition, [visit(0)])
    assert one.intent_signals == []
    assert not one.has_intent

    eight_days_apart = score(definition, [visit(0), visit(8)])
    assert [s.rule for s in eight_days_apart.intent_signals] == []

    two_in_a_week = score(definition, [visit(0), visit(6)])
    assert [s.rule for s in two_in_a_week.intent_signals] == ["pricing twice"]
    assert two_in_a_week.has_intent  # 2 pages + 2 pricing x 5 + 1 return x 3 = 15 >= 10

    long_read_only = score(definition, [visit(0, engaged_ms=150_000)])
    assert [s.rule for s in long_read_only.intent_signals] == ["long pricing read"]
    assert "150 s" in long_read_only.intent_signals[0].explanation

    strict = definition.model_copy(update={"intent_threshold": 1000})
    assert not score(strict, [visit(0), visit(1)]).has_intent  # rules matched, score too low
