"""Every people-and-outcomes endpoint refuses another site's key, a revoked key and a key
without its scope, without leaking anything; keys are rate limited per key (429)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from services.api.keys.service import create_key, revoke_key
from services.cli import main
from shared.keys import KeyScope
from shared.ratelimit import RedisRateLimiter
from shared.settings import Settings
from shared.sites import create_site
from tests.helpers.isolation import PEOPLE_ENDPOINTS, WEBHOOK
from tests.helpers.overt import Overt
from tests.helpers.people import auth, consent_site, consented_subject, full_key
from tests.helpers.problems import assert_problem
from tests.helpers.ratelimit import sf_list

pytestmark = pytest.mark.anyio

IDS = [f"{method} {path}" for method, path, _, _ in PEOPLE_ENDPOINTS]


def fill(value: object, **names: str) -> object:
    text = json.dumps(value)
    for name, replacement in names.items():
        text = text.replace("{" + name + "}", replacement)
    return json.loads(text)


@pytest.mark.parametrize(("method", "path", "scope", "body"), PEOPLE_ENDPOINTS, ids=IDS)
async def test_endpoint_refuses_other_site_revoked_and_unscoped_keys(
    people: Overt, method: str, path: str, scope: KeyScope, body: object
) -> None:
    site = await consent_site(people)
    subject = await consented_subject(people, site, "Alice")
    owner = await full_key(people)
    made = await people.client.post(
        f"/v1/sites/{site.id}/webhooks", json=WEBHOOK, headers=auth(owner)
    )
    assert made.status_code == 201, made.text
    names = {"site": site.id, "subject": subject.subject_id, "hook": made.json()["id"]}
    url = str(fill(path, **names))
    payload = fill(body, **names) if body is not None else None

    async def call(key: str) -> httpx.Response:
        return await people.client.request(method, url, json=payload, headers=auth(key))

    # Another site's key, with every scope: refused, and the answer names nothing of ours.
    other = await create_site(engine=people.resources.engine, domain="other.example")
    refused = await call(await full_key(people, site_id=other.id))
    problem = assert_problem(refused, 403, "wrong-site")
    assert problem.pop("instance") == url  # the caller's own path, echoed
    assert subject.subject_id not in json.dumps(problem)
    assert names["hook"] not in json.dumps(problem)

    # A key of this site without the scope.
    others = [s for s in KeyScope if s != scope]
    _, unscoped = await create_key(engine=people.resources.engine, site_id=site.id, scopes=others)
    assert_problem(await call(unscoped), 403, "missing-scope")

    # A revoked key with every scope: refused at once.
    key, secret = await create_key(engine=people.resources.engine, site_id=site.id, scopes=[scope])
    allowed = await call(secret)
    assert allowed.status_code in (200, 201, 204), allowed.text
    assert await revoke_key(engine=people.resources.engine, key_id=key.id)
    assert_problem(await call(secret), 401, "invalid-api-key")

    # No key at all.
    missing = await people.client.request(method, url, json=payload)
    assert_problem(missing, 401, "api-key-required")


async def test_rate_limit_per_key_answers_429_with_retry_after(people: Overt) -> None:
    limited = await full_key(people, rate_limit=3)
    other = await full_key(people)
    url = f"/v1/sites/{people.site.id}/webhooks"
    window = people.resources.settings.api_rate_window_s
    for left in (2, 1, 0):
        answer = await people.client.get(url, headers=auth(limited))
        assert answer.status_code == 200
        # Every answer says where the key's budget stands (IETF httpapi RateLimit fields).
        assert sf_list(answer.headers["ratelimit-policy"]) == [("key", {"q": 3, "w": window})]
        [(name, params)] = sf_list(answer.headers["ratelimit"])
        assert name == "key"
        assert params["r"] == left
        assert 1 <= params["t"] <= window
    refused = await people.client.get(url, headers=auth(limited))
    problem = assert_problem(refused, 429, "rate-limited")
    assert "3 requests" in str(problem["detail"])
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= window
    [(_, params)] = sf_list(refused.headers["ratelimit"])
    assert params["r"] == 0
    assert params["t"] == retry_after
    # Without a key nothing was spent, so nothing is said.
    assert "ratelimit" not in (await people.client.get(url)).headers
    # The budget is per key: another key of the same site is unaffected.
    assert (await people.client.get(url, headers=auth(other))).status_code == 200


async def test_rate_limit_setting_applies_to_keys_without_their_own(settings: Settings) -> None:
    from shared.runtime import open_resources
    from tests.helpers.overt import make_app, running

    # An hour-long window: the three calls cannot straddle a window boundary in practice.
    tuned = settings.model_copy(update={"api_rate_limit": 2, "api_rate_window_s": 3600})
    async with open_resources(tuned) as resources:
        site = await create_site(engine=resources.engine, domain="example.com")
        _, key = await create_key(
            engine=resources.engine, site_id=site.id, scopes=[KeyScope.webhooks_manage]
        )
        async with running(make_app(resources, worker=False)) as client:
            url = f"/v1/sites/{site.id}/webhooks"
            statuses = [(await client.get(url, headers=auth(key))).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


async def test_redis_limit_is_shared_by_processes(postgres_settings: Settings) -> None:
    """Two limiters (two API replicas) on one Redis spend one budget."""
    assert postgres_settings.redis_url
    redis = Redis.from_url(postgres_settings.redis_url)
    try:
        prefix = postgres_settings.redis_prefix
        first = RedisRateLimiter(redis, prefix=prefix)
        second = RedisRateLimiter(redis, prefix=prefix)
        verdicts = [
            await limiter.hit("key1", limit=3, window_s=60, now=120.0 + offset)
            for offset, limiter in enumerate((first, second, first, second))
        ]
        assert [v.allowed for v in verdicts] == [True, True, True, False]
        assert [v.remaining for v in verdicts] == [2, 1, 0, 0]
        assert verdicts[-1].retry_after_s == 60 - 3  # the window [120, 180) ends at 180
        assert (await second.hit("key2", limit=3, window_s=60, now=123.0)).allowed
        # The next window starts a fresh budget.
        assert (await first.hit("key1", limit=3, window_s=60, now=180.0)).allowed
    finally:
        await redis.aclose()


def test_cli_key_create_with_scopes_and_limit_then_revoke(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("OVERT_REDIS_URL", "OVERT_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OVERT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/overt.db")
    monkeypatch.setenv("OVERT_LOG_FORMAT", "text")
    assert main(["migrate"]) == 0
    assert main(["site", "add", "example.com", "--json"]) == 0
    site = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    created = main(
        [
            "key",
            "create",
            "--site",
            site["id"],
            "--scope",
            "contacts:read",
            "--scope",
            "webhooks:manage",
            "--rate-limit",
            "50",
            "--json",
        ]
    )
    assert created == 0
    key = json.loads(capsys.readouterr().out)
    assert key["scopes"] == ["contacts:read", "webhooks:manage"]
    assert main(["key", "revoke", key["id"]]) == 0
    assert f"key {key['id']} revoked" in capsys.readouterr().out
    assert main(["key", "revoke", key["id"]]) == 1  # already revoked
    assert "no live key" in capsys.readouterr().err
