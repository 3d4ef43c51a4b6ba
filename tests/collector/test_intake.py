"""/e on both backends: what is accepted is stored once; what is wrong gets a clear 4xx."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from shared.logging import configure_logging
from shared.models import events, site_hourly
from tests.helpers.capture import stored
from tests.helpers.overt import Overt
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio


async def test_accepted_event_is_stored_without_query_or_personal_data(overt: Overt) -> None:
    body = overt.event(
        u="https://www.example.com/pricing?email=a%40b.com#x",
        r="https://news.example.org/item?id=42&token=secret",
    )
    response = await overt.send(body)
    assert response.status_code == 202
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "*"
    assert "set-cookie" not in response.headers
    [row] = await stored(overt)
    assert row["event_id"] == uuid.UUID(hex=str(body["i"]))
    assert row["site_id"] == overt.site.id
    assert row["name"] == "pageview"
    assert row["host"] == "www.example.com"
    assert row["path"] == "/pricing"
    assert row["referrer"] == "https://news.example.org/item"
    assert isinstance(row["visitor_hash"], int)
    flat = repr(row)
    for secret in ("203.0.113.7", "TestBrowser", "email", "token=secret"):
        assert secret not in flat


CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.71 Safari/537.36"
)
SAFARI_ON_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


@pytest.mark.parametrize(
    ("user_agent", "versions"),
    [
        (CHROME_ON_WINDOWS, ("Chrome", "120.0", "Windows", "10")),
        (SAFARI_ON_IOS, ("Mobile Safari", "17.1", "iOS", "17.1")),
    ],
)
async def test_browser_and_os_versions_are_stored_not_the_user_agent(
    overt: Overt, user_agent: str, versions: tuple[str, str, str, str]
) -> None:
    response = await overt.send(overt.event(), **{"user-agent": user_agent})
    assert response.status_code == 202, response.text
    [row] = await stored(overt)
    assert (row["browser"], row["browser_version"], row["os"], row["os_version"]) == versions
    assert user_agent not in repr(row)


async def test_numbers_in_props_keep_their_type(overt: Overt) -> None:
    """An integer stays one (3, not 3.0); one past 64 bits is stored as the float it reads as."""
    props = {"seats": 3, "ratio": 2.5, "flag": True, "huge": 2**70, "name": "x"}
    # stdlib json writes integers of any size (orjson stops at 64 bits)
    response = await overt.send(json.dumps(overt.event(n="Signup", p=props)).encode())
    assert response.status_code == 202, response.text
    [row] = await stored(overt)
    stored_props = row["props"] if isinstance(row["props"], dict) else orjson.loads(row["props"])
    assert stored_props == {**props, "huge": float(2**70)}
    assert isinstance(stored_props["seats"], int)
    assert not isinstance(stored_props["seats"], bool)


async def test_same_event_id_twice_is_stored_once(overt: Overt) -> None:
    body = overt.event()
    assert (await overt.send(body)).status_code == 202
    assert (await overt.send(body)).status_code == 202
    await overt.drained()
    async with overt.resources.engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(events))).scalar_one()
    assert count == 1
    async with overt.resources.engine.connect() as conn:
        hourly = (await conn.execute(select(site_hourly.c.pageviews, site_hourly.c.visitors))).all()
    assert [tuple(row) for row in hourly] == [(1, 1)]  # the rollups count it once too


async def test_visitor_hash_depends_on_user_agent_but_not_on_the_page(overt: Overt) -> None:
    await overt.send(overt.event(u="https://example.com/a"))
    await overt.send(overt.event(u="https://example.com/b"))
    await overt.send(overt.event(), **{"user-agent": "Other/2.0"})
    hashes = [row["visitor_hash"] for row in await stored(overt)]
    assert len(hashes) == 3
    assert len(set(hashes)) == 2


async def test_application_json_is_accepted(overt: Overt) -> None:
    response = await overt.send(overt.event(), **{"content-type": "application/json"})
    assert response.status_code == 202


async def test_malformed_json_is_400(overt: Overt) -> None:
    assert_problem(await overt.send(b'{"s": "x", '), 400, "malformed-json")
    assert_problem(await overt.send(b"\xff\xfe{}"), 400, "malformed-json")
    assert await stored(overt) == []


async def test_schema_violation_is_422_with_field_errors(overt: Overt) -> None:
    body = assert_problem(await overt.send(overt.event(i="not-an-id")), 422, "invalid-event")
    assert body["errors"] == [
        {
            "loc": "$.i",
            "msg": "Invalid UUID",
            "type": "value_error",
        }
    ]
    body = assert_problem(
        await overt.send(overt.event(u="javascript:alert(1)")), 422, "invalid-event"
    )
    assert "alert" not in str(body)  # rejected input is not echoed back
    assert_problem(await overt.send([1, 2]), 422, "invalid-event")
    assert_problem(await overt.send(overt.event(extra="field")), 422, "invalid-event")


async def test_oversize_body_is_413_declared_or_streamed(overt: Overt) -> None:
    limit = overt.resources.settings.max_body_bytes
    big = overt.event(n="x" * (limit + 10))
    assert_problem(await overt.send(big), 413, "payload-too-large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(limit // 1000 + 2):
            yield b" " * 1000

    response = await overt.client.post(
        "/e", content=chunks(), headers={"content-type": "text/plain"}
    )
    assert_problem(response, 413, "payload-too-large")
    assert await stored(overt) == []


async def test_unknown_site_is_422(overt: Overt) -> None:
    assert_problem(await overt.send(overt.event(s="nosuchsite")), 422, "unknown-site")


@pytest.mark.parametrize(
    ("body", "loc", "pattern"),
    [
        ({"s": "no such site"}, "$.s", "^[A-Za-z0-9_-]+$"),
        ({"s": "site\n"}, "$.s", "^[A-Za-z0-9_-]+$"),
        ([{}, {"s": "x/../y"}], "$[1].s", "^[A-Za-z0-9_-]+$"),
        ({"a": "z" * 32}, "$.a", "^[0-9a-fA-F]{32}$"),
        ([{}, {}, {"a": "0" * 31 + "g"}], "$[2].a", "^[0-9a-fA-F]{32}$"),
    ],
)
async def test_site_and_analytics_ids_must_match_their_patterns(
    overt: Overt, body: dict[str, str] | list[dict[str, str]], loc: str, pattern: str
) -> None:
    """Checked by intake, not the decoder (see schemas.py), and answered as the decoder's
    other refusals are."""
    sent = [overt.event(**e) for e in body] if isinstance(body, list) else overt.event(**body)
    problem = assert_problem(await overt.send(sent), 422, "invalid-event")
    assert problem["errors"] == [
        {"loc": loc, "msg": f"Expected `str` matching regex '{pattern}'", "type": "value_error"}
    ]
    assert await stored(overt) == []


@pytest.mark.parametrize(
    ("origin", "url"),
    [
        ("https://evil.test", "https://example.com/"),
        ("https://example.com.evil.test", "https://example.com/"),
        ("https://example.com", "https://evil.test/"),
        ("null", "https://example.com/"),
    ],
)
async def test_wrong_origin_or_page_host_is_403(overt: Overt, origin: str, url: str) -> None:
    response = await overt.send(overt.event(u=url), origin=origin)
    assert_problem(response, 403, "wrong-origin")
    assert await stored(overt) == []


async def test_subdomain_origin_is_accepted(overt: Overt) -> None:
    response = await overt.send(
        overt.event(u="https://blog.example.com/post"), origin="https://blog.example.com"
    )
    assert response.status_code == 202


async def test_form_body_is_415(overt: Overt) -> None:
    response = await overt.send(
        overt.event(), **{"content-type": "application/x-www-form-urlencoded"}
    )
    assert_problem(response, 415, "unsupported-media-type")


async def test_snippet_is_served_as_javascript(overt: Overt) -> None:
    response = await overt.client.get("/overt.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert b"sendBeacon" in response.content
    # localStorage holds the tier-1 id after analytics consent only (checked in a real
    # browser by tests/e2e/test_snippet_tracking.py); nothing else ever stores anything.
    for storage in (b"document.cookie", b"sessionStorage", b"indexedDB"):
        assert storage not in response.content


async def test_no_ip_user_agent_or_payload_reaches_a_log(
    overt: Overt, caplog: pytest.LogCaptureFixture
) -> None:
    marker = "https://example.com/secret-page-path"
    configure_logging(fmt="json", level="DEBUG")  # Overt's own set-up, at its most verbose
    logging.getLogger().addHandler(caplog.handler)  # configure_logging replaced the handlers
    with caplog.at_level(logging.DEBUG):
        await overt.send(overt.event(u=marker))
        await overt.send(overt.event(u=marker), origin="https://evil.test")
        await overt.send(b"{not json " + marker.encode())
        await overt.send(overt.event(s="unknown", u=marker))
        await overt.drained()
    assert caplog.records  # the access log and the worker did log something
    text = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    for personal in ("203.0.113.7", "TestBrowser", "secret-page-path"):
        assert personal not in text


async def test_the_framework_route_serves_the_same_core_without_the_front_layer(
    overt: Overt,
) -> None:
    from services.collector.router import router
    from shared.app import build_app
    from tests.helpers.overt import running

    plain = build_app(
        title="t", settings=overt.resources.settings, routers=[router], resources=overt.resources
    )
    async with running(plain) as client:
        headers = {
            "content-type": "text/plain",
            "origin": "https://example.com",
            "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0",
        }
        too_big = b" " * (overt.resources.settings.max_body_bytes + 1)
        assert_problem(
            await client.post("/e", content=too_big, headers=headers), 413, "payload-too-large"
        )
        assert_problem(
            await client.post("/e", content=b"{", headers=headers), 400, "malformed-json"
        )
        accepted = await client.post("/e", content=orjson.dumps(overt.event()), headers=headers)
    assert accepted.status_code == 202
    assert accepted.headers["access-control-allow-origin"] == "*"
    assert len(await stored(overt)) == 1


@settings(max_examples=200, derandomize=True)
@given(
    site_id=st.text(max_size=40),
    ip=st.text(max_size=60),
    user_agent=st.text(max_size=300),
    salt=st.binary(min_size=16, max_size=64),
)
def test_the_visitor_hash_is_keyed_blake2b_of_its_inputs(
    site_id: str, ip: str, user_agent: str, salt: bytes
) -> None:
    """Whatever the lengths (one block or several), the hash is BLAKE2b keyed with the salt
    of site, NUL, IP, NUL, User-Agent; intake's, from copies of one keyed hasher, too."""
    from services.collector import service
    from services.collector.salts import keyed_hasher

    data = f"{site_id}\x00{ip}\x00{user_agent}".encode()
    expected = hashlib.blake2b(data, key=salt, digest_size=8).digest()
    hashed = service.visitor_hash(salt=salt, site_id=site_id, ip=ip, user_agent=user_agent)
    assert hashed == int.from_bytes(expected, "big", signed=True)
    keyed, tail = keyed_hasher(salt), f"\x00{user_agent}".encode()
    for _ in range(2):  # the keyed hasher is copied, never fed itself
        assert service._visitor_hash(keyed, f"{site_id}\x00{ip}", tail) == hashed


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([1, 2, 8, 64, 1024]),
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=256), st.integers(min_value=1, max_value=60)),
        max_size=60,
    ),
)
def test_the_rate_limit_is_a_token_bucket_of_two_seconds(
    rate: int, steps: list[tuple[int, int]]
) -> None:
    """The limiter (one number per site) decides as a bucket of 2 s worth of events that
    starts full, refills at the site's rate and is not charged for a refusal. Times are
    multiples of 1/64 s and rates powers of two: both sides compute exactly."""
    from services.collector.service import RateLimiter
    from shared.sites import Site, SiteSettings

    site = Site("s", "example.com", "UTC", SiteSettings(events_per_second=rate))
    limiter = RateLimiter()
    now = last = 1000.0
    tokens = 2.0 * rate
    for ticks, cost in steps:
        now += ticks / 64
        tokens = min(2.0 * rate, tokens + (now - last) * rate)
        last = now
        expected = tokens >= cost
        if expected:
            tokens -= cost
        assert limiter.allow(site, cost, now) is expected
