"""The consent service's rate limits, on both backends (Redis, in-process): per address mailed,
per client and per site; 429 + Retry-After; the client's IP is never a key or a log line."""

from __future__ import annotations

import time

import anyio
import pytest
from sqlalchemy import func, select

from services.consent.ledger.models import consent_ledger
from shared.sites import Site
from tests.helpers.consent import FORM, client_from, overt_with, post_decisions
from tests.helpers.overt import Overt
from tests.helpers.ratelimit import sf_list

pytestmark = pytest.mark.anyio

CLIENT_IP = "203.0.113.7"  # what tests.helpers.overt.running connects from


async def ledger_rows(overt: Overt, site: Site) -> int:
    async with overt.resources.engine.connect() as conn:
        count = await conn.execute(select(func.count()).where(consent_ledger.c.site_id == site.id))
        return int(count.scalar_one())


def assert_limited(response: object) -> None:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/rate-limited")
    assert 1 <= int(response.headers["retry-after"]) <= 3600
    assert response.headers["access-control-allow-origin"] == "*"  # the widget can read it
    # The IETF httpapi RateLimit fields name the spent budget: nothing left, reset at Retry-After.
    spent = [
        (name, params)
        for name, params in sf_list(response.headers["ratelimit"])
        if params["r"] == 0
    ]
    assert spent
    assert spent[-1][1]["t"] == int(response.headers["retry-after"])


async def test_verification_mails_to_one_address_are_limited(
    overt: Overt, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """The review sent 30 mails to one address in 0.28 s; the default is 3 an hour."""
    decided = await post_decisions(overt, site, identification=True)
    auth = {"authorization": f"Bearer {decided.json()['credential']}"}
    url = f"/consent/sites/{site.id}/identity/email"
    statuses = []
    for _ in range(5):
        response = await overt.client.post(url, json={"email": "Victim@example.org"}, headers=auth)
        statuses.append(response.status_code)
    assert statuses == [202, 202, 202, 429, 429]
    assert_limited(response)
    policies = dict(sf_list(response.headers["ratelimit-policy"]))
    window = overt.resources.settings.consent_mail_window_s
    assert policies["mail-address"] == {"q": 3, "w": window}  # and the write budgets before it
    assert set(policies) == {"client", "site", "mail-address"}
    sent = [r for r in caplog.records if "verification link" in r.getMessage()]
    assert len(sent) == 3
    # The same address written otherwise is the same address.
    assert_limited(await overt.client.post(url, json={"email": "victim@EXAMPLE.org"}, headers=auth))
    # Another address still gets its mail.
    other = await overt.client.post(url, json={"email": "other@example.org"}, headers=auth)
    assert other.status_code == 202


async def test_verification_mails_per_client_and_per_site(overt: Overt, site: Site) -> None:
    async with overt_with(overt, consent_mails_per_client=2, consent_mails_per_site=3) as tuned:
        url = f"/consent/sites/{site.id}/identity/email"

        async def ask(client_ip: str, address: str) -> int:
            async with client_from(tuned, client_ip) as client:
                decided = await client.post(
                    f"/consent/sites/{site.id}/decisions",
                    json={"choices": {"identification": True}},
                )
                auth = {"authorization": f"Bearer {decided.json()['credential']}"}
                response = await client.post(url, json={"email": address}, headers=auth)
                if response.status_code == 429:
                    assert_limited(response)
                return response.status_code

        assert await ask("198.51.100.1", "a@example.org") == 202
        assert await ask("198.51.100.1", "b@example.org") == 202
        assert await ask("198.51.100.1", "c@example.org") == 429  # this client's budget
        assert await ask("198.51.100.2", "d@example.org") == 202
        assert await ask("198.51.100.3", "e@example.org") == 429  # the site's budget


async def window_with_room(window_s: int, room_s: float) -> None:
    """Wait, if need be, until the fixed window now running has `room_s` seconds left, so a
    test's requests all fall in one window (a boundary in between resets every count)."""
    left = window_s - time.time() % window_s
    if left < room_s:
        await anyio.sleep(left + 0.05)


async def test_new_subjects_from_one_client_are_limited(overt: Overt, site: Site) -> None:
    """The review made 100 subjects with signed ledger rows in 1.5 s; the default is 60 a
    minute per client, and a refused write records nothing."""
    settings = overt.resources.settings
    assert (settings.consent_client_rate_limit, settings.consent_rate_window_s) == (60, 60)
    # The same budget, smaller, in an hour's window: a loaded machine cannot cross its end.
    limit, window = 8, 3600
    async with overt_with(
        overt, consent_client_rate_limit=limit, consent_rate_window_s=window
    ) as tuned:
        await window_with_room(window, 20)
        for _ in range(limit):
            response = await post_decisions(tuned, site, analytics=True)
            assert response.status_code == 201, response.text
        assert await ledger_rows(tuned, site) == limit
        refused = await post_decisions(tuned, site, analytics=True)
        assert_limited(refused)
        assert await ledger_rows(tuned, site) == limit
        # Every consent write spends the same budget: the preference page's forms too.
        form = await tuned.client.post(
            f"/consent/sites/{site.id}/preferences/choices",
            data={"grant": "analytics"},
            headers={**FORM, "origin": "http://overt.test"},
        )
        assert_limited(form)
        # Reading is not limited, and another client still writes.
        assert (await tuned.client.get(f"/consent/sites/{site.id}/purposes")).status_code == 200
        async with client_from(tuned, "198.51.100.20") as other:
            response = await other.post(
                f"/consent/sites/{site.id}/decisions", json={"choices": {"analytics": True}}
            )
        assert response.status_code == 201


async def test_writes_to_one_site_are_limited_across_clients(overt: Overt, site: Site) -> None:
    async with overt_with(overt, consent_site_rate_limit=3, consent_rate_window_s=3600) as tuned:
        await window_with_room(3600, 20)
        statuses = []
        for n in range(4):
            async with client_from(tuned, f"198.51.100.{n + 1}") as client:
                response = await client.post(
                    f"/consent/sites/{site.id}/decisions", json={"choices": {"analytics": True}}
                )
                statuses.append(response.status_code)
        assert statuses == [201, 201, 201, 429]
        assert_limited(response)


async def test_the_client_ip_is_neither_a_key_nor_logged(
    overt: Overt, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    async with overt_with(overt, consent_client_rate_limit=1, consent_rate_window_s=3600) as tuned:
        await window_with_room(3600, 20)
        assert (await post_decisions(tuned, site, analytics=True)).status_code == 201
        assert_limited(await post_decisions(tuned, site, analytics=True))
        redis = tuned.resources.redis
        if redis is not None:
            names = [
                name.decode()
                async for name in redis.scan_iter(f"{tuned.resources.settings.redis_prefix}:*")
            ]
            limits = [name for name in names if ":consent:write:client:" in name]
            assert limits  # counted in Redis, shared by every replica
            assert not [name for name in names if CLIENT_IP in name]
        else:
            limiter = tuned.app.state.consent_rate_limiter
            assert len(limiter) >= 2  # the client's and the site's window
    assert not [r for r in caplog.records if CLIENT_IP in r.getMessage()]
