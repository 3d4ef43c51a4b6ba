"""POST /api/event on both backends: Plausible's tracker and Events API, and server-side
events from backends with an ingest key.

The tracker's shapes are copied from @plausible-analytics/tracker 0.4.6 (plausible.js):
`fetch(endpoint, {method: "POST", headers: {"Content-Type": "text/plain"}, keepalive: true,
body: JSON.stringify(payload)})`, payload `{n, v: 36, u, d, r, p?, i?: false, $?, h?: 1}`,
and for engagement `{n: "engagement", sd, d, u, p, e, v: 36}`.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from services.api.keys.service import create_key, revoke_key
from shared.keys import KeyCache, KeyScope
from shared.sites import create_site
from tests.helpers.capture import stored
from tests.helpers.overt import Overt
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

BROWSER = {
    "content-type": "text/plain",
    "origin": "https://example.com",
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
}
VISITOR_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15"


def tracker(name: str, **extra: Any) -> dict[str, Any]:
    """What the npm tracker's track(name, options) posts from https://example.com/pricing."""
    base = {"n": name, "v": 36, "u": "https://example.com/pricing", "d": "example.com", "r": None}
    return base | extra


def locations(problem: dict[str, object]) -> list[object]:
    errors = problem["errors"]
    assert isinstance(errors, list)
    return [error["loc"] for error in errors]


async def ingest_key(overt: Overt, site_id: str | None = None) -> str:
    _, secret = await create_key(
        engine=overt.resources.engine,
        site_id=site_id or overt.site.id,
        scopes=[KeyScope.events_write],
    )
    return secret


async def post(overt: Overt, body: object, **headers: str) -> httpx.Response:
    """As a backend would with httpx: JSON, httpx's own User-Agent, no Origin."""
    return await overt.client.post("/api/event", json=body, headers=headers)


def server_event(**extra: Any) -> dict[str, Any]:
    """Plausible's Events API (long keys), as its documentation's curl example sends it."""
    return {
        "name": "pageview",
        "url": "https://example.com/checkout",
        "domain": "example.com",
        "referrer": "https://news.example.org/",
    } | extra


async def test_server_side_event_from_httpx_with_a_key_is_stored_and_counted(
    overt: Overt,
) -> None:
    await store_definition(
        engine=overt.resources.engine, site_id=overt.site.id, body=DefinitionIn(k=2)
    )
    key = await ingest_key(overt)
    assert overt.client.headers["user-agent"].startswith("python-httpx/")
    for address in ("198.51.100.1", "198.51.100.2"):
        response = await post(
            overt,
            server_event(),
            authorization=f"Bearer {key}",
            **{"x-forwarded-for": address, "user-agent": VISITOR_UA},
        )
        assert response.status_code == 202, response.text
        assert response.text == "ok"
    # The same, with httpx's User-Agent and the visitor's in the body (as Umami v3 takes it)
    response = await post(
        overt,
        server_event(ip="198.51.100.3", user_agent=VISITOR_UA),
        authorization=f"Bearer {key}",
    )
    assert response.status_code == 202, response.text

    rows = await stored(overt)
    assert len(rows) == 3
    assert {row["browser"] for row in rows} == {"Safari"}
    assert len({row["visitor_hash"] for row in rows}) == 3
    assert all(row["source"] == "news.example.org" for row in rows)
    assert "198.51.100" not in repr(rows)
    answer = await overt.query()
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"] == [{"metrics": [3, 3], "dimensions": []}]


async def test_without_a_key_httpx_is_dropped_as_a_bot_as_on_e(overt: Overt) -> None:
    response = await post(overt, server_event(), **{"x-forwarded-for": "198.51.100.1"})
    assert response.status_code == 202
    assert await stored(overt) == []


async def test_with_a_key_the_http_clients_own_user_agent_is_not_a_reason_to_drop(
    overt: Overt,
) -> None:
    key = await ingest_key(overt)
    for client_agent in ("curl/8.5.0", "Go-http-client/1.1", "node-fetch/1.0", "axios/1.6.0"):
        response = await post(
            overt,
            server_event(),
            authorization=f"Bearer {key}",
            **{"x-forwarded-for": "198.51.100.1", "user-agent": client_agent},
        )
        assert response.status_code == 202
    assert len(await stored(overt)) == 4


async def test_a_crawler_named_as_the_visitor_is_dropped(overt: Overt) -> None:
    key = await ingest_key(overt)
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    batch = [
        server_event(ip="198.51.100.1", user_agent=googlebot),
        server_event(ip="198.51.100.2", user_agent=VISITOR_UA),
    ]
    response = await post(overt, batch, authorization=f"Bearer {key}")
    assert response.status_code == 202
    [row] = await stored(overt)
    assert row["browser"] == "Safari"


async def test_keys_are_refused_for_another_site_a_missing_scope_or_when_unknown(
    overt: Overt,
) -> None:
    other = await create_site(engine=overt.resources.engine, domain="other.org")
    other_key = await ingest_key(overt, other.id)
    headers = {"x-forwarded-for": "198.51.100.1"}
    response = await post(overt, server_event(), authorization=f"Bearer {other_key}", **headers)
    assert_problem(response, 403, "wrong-site")
    response = await post(overt, server_event(), authorization=f"Bearer {overt.key}", **headers)
    assert_problem(response, 403, "missing-scope")  # a stats:read key
    response = await post(overt, server_event(), authorization="Bearer ovt_nope_nope", **headers)
    assert_problem(response, 401, "invalid-api-key")
    response = await post(overt, server_event(), authorization="Basic Zm9vOmJhcg==", **headers)
    assert_problem(response, 401, "api-key-required")
    assert await stored(overt) == []


async def test_a_batch_with_one_event_of_another_site_is_refused_whole(overt: Overt) -> None:
    await create_site(engine=overt.resources.engine, domain="other.org")
    key = await ingest_key(overt)
    batch = [
        server_event(ip="198.51.100.1"),
        server_event(ip="198.51.100.1", domain="other.org", url="https://other.org/"),
    ]
    assert_problem(await post(overt, batch, authorization=f"Bearer {key}"), 403, "wrong-site")
    assert await stored(overt) == []


async def test_visitor_fields_without_a_key_are_refused(overt: Overt) -> None:
    body = tracker("pageview", ip="198.51.100.9", user_agent=VISITOR_UA)
    assert_problem(await post(overt, body, **BROWSER), 401, "api-key-required")


async def test_a_server_side_event_needs_its_visitors_ip_or_an_analytics_id(
    overt: Overt,
) -> None:
    key = await ingest_key(overt)
    problem = assert_problem(
        await post(overt, server_event(), authorization=f"Bearer {key}"), 422, "invalid-event"
    )
    assert "X-Forwarded-For" in str(problem["detail"])
    analytics_id = uuid.uuid4().hex
    response = await post(
        overt, server_event(analytics_id=analytics_id), authorization=f"Bearer {key}"
    )
    assert response.status_code == 202
    [row] = await stored(overt)
    assert row["analytics_id"] == analytics_id
    bad = server_event(ip="not-an-ip")
    problem = assert_problem(
        await post(overt, bad, authorization=f"Bearer {key}"), 422, "invalid-event"
    )
    assert problem["errors"] == [
        {"loc": "$.ip", "msg": "Expected an IPv4 or IPv6 address", "type": "value_error"}
    ]


async def test_a_retried_event_with_its_id_is_stored_once(overt: Overt) -> None:
    key = await ingest_key(overt)
    event_id = uuid.uuid4()
    body = [server_event(id=str(event_id), ip="198.51.100.1", user_agent=VISITOR_UA)]
    for _ in range(2):
        assert (await post(overt, body, authorization=f"Bearer {key}")).status_code == 202
    [row] = await stored(overt)
    assert row["event_id"] == event_id


async def test_batches_hold_at_most_50_events(overt: Overt) -> None:
    key = await ingest_key(overt)
    batch = [server_event(ip="198.51.100.1") for _ in range(51)]
    assert_problem(await post(overt, batch, authorization=f"Bearer {key}"), 422, "invalid-event")
    response = await post(overt, batch[:50], authorization=f"Bearer {key}")
    assert response.status_code == 202
    assert len(await stored(overt)) == 50


async def test_the_npm_trackers_pageview_custom_event_and_outbound_click(overt: Overt) -> None:
    bodies = [
        tracker("pageview", r="https://www.google.com/"),
        tracker("Signup", p={"plan": "pro", "seats": 3, "trial": True, "ratio": 0.5}),
        tracker("Outbound Link: Click", p={"url": "https://other.org/page"}),
        tracker("File Download", p={"url": "https://example.com/a.pdf"}),
        # engagement: no referrer key; `p` is the pageview's props
        {"n": "engagement", "sd": 40, "d": "example.com", "u": "https://example.com/pricing"}
        | {"p": {}, "e": 1200, "v": 36},
    ]
    for body in bodies:
        response = await overt.client.post(
            "/api/event", content=orjson.dumps(body), headers=BROWSER
        )
        assert response.status_code == 202, response.text
        assert response.text == "ok"
        assert response.headers["access-control-allow-origin"] == "*"
    rows = {row["name"]: row for row in await stored(overt)}
    assert set(rows) == {"pageview", "Signup", "outbound", "download", "engagement"}
    assert rows["pageview"]["source"] == "Google"
    assert rows["pageview"]["path"] == "/pricing"
    assert rows["Signup"]["props"] == {"plan": "pro", "seats": 3, "trial": True, "ratio": 0.5}
    assert isinstance(rows["Signup"]["props"]["seats"], int)
    assert rows["outbound"]["props"] == {"url": "https://other.org/page"}
    assert rows["download"]["props"] == {"url": "https://example.com/a.pdf"}
    assert (rows["engagement"]["engaged_ms"], rows["engagement"]["scroll_depth"]) == (1200, 40)
    assert rows["Signup"]["browser"] == "Chrome"


async def test_the_trackers_events_follow_e_rules_without_a_key(overt: Overt) -> None:
    body = tracker("pageview")
    foreign = {**BROWSER, "origin": "https://evil.example.net"}
    assert_problem(await post(overt, body, **foreign), 403, "wrong-origin")
    assert_problem(
        await post(overt, tracker("pageview", d="nosuch.org"), **BROWSER), 422, "unknown-site"
    )
    assert_problem(
        await post(overt, tracker("pageview", u="https://elsewhere.org/"), **BROWSER),
        403,
        "wrong-origin",
    )
    crawler = {**BROWSER, "user-agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}
    assert (await post(overt, body, **crawler)).status_code == 202
    assert_problem(
        await overt.client.post(
            "/api/event", content=b"{}", headers={**BROWSER, "content-type": "text/html"}
        ),
        415,
        "unsupported-media-type",
    )
    assert await stored(overt) == []


async def test_revenue_is_kept_in_props(overt: Overt) -> None:
    key = await ingest_key(overt)
    bodies = [
        tracker("Purchase", **{"$": {"amount": "15.99", "currency": "eur"}}),
        tracker("Refund", **{"$": '{"amount": -5, "currency": "USD"}'}),
    ]
    for body in bodies:
        assert (await post(overt, body, **BROWSER)).status_code == 202
    long_form = server_event(
        name="Order", revenue={"amount": 1200, "currency": "JPY"}, props={"sku": "A1"}
    )
    response = await post(
        overt, long_form, authorization=f"Bearer {key}", **{"x-forwarded-for": "198.51.100.1"}
    )
    assert response.status_code == 202
    props = {row["name"]: row["props"] for row in await stored(overt)}
    assert props == {
        "Purchase": {"revenue_amount": 15.99, "revenue_currency": "EUR"},
        "Refund": {"revenue_amount": -5.0, "revenue_currency": "USD"},
        "Order": {"sku": "A1", "revenue_amount": 1200.0, "revenue_currency": "JPY"},
    }
    bad = tracker("Purchase", **{"$": {"amount": "lots", "currency": "EUR"}})
    problem = assert_problem(await post(overt, bad, **BROWSER), 422, "invalid-event")
    assert locations(problem) == ["$.$.amount"]


async def test_plausibles_variants_props_as_text_nested_values_and_domain_lists(
    overt: Overt,
) -> None:
    bodies = [
        tracker("Legacy", m='{"author": "ann", "words": 900}'),
        tracker("Nested", p={"kept": "yes", "list": [1], "obj": {"a": 1}, "none": None, "e": ""}),
        tracker("Rollup", d="nosuch.org, www.Example.com"),
        tracker("Hash", u="https://example.com/#/settings", h=1),
    ]
    for body in bodies:
        assert (await post(overt, body, **BROWSER)).status_code == 202, body
    rows = {row["name"]: row for row in await stored(overt)}
    assert rows["Legacy"]["props"] == {"author": "ann", "words": 900}
    assert rows["Nested"]["props"] == {"kept": "yes"}
    assert rows["Rollup"]["site_id"] == overt.site.id
    assert rows["Hash"]["path"] == "/settings"


async def test_refusals_point_at_the_field_as_the_sender_spelled_it(overt: Overt) -> None:
    problem = assert_problem(
        await post(overt, [tracker("pageview"), tracker("x", u="ftp://example.com/")], **BROWSER),
        422,
        "invalid-event",
    )
    assert locations(problem) == ["$[1].u"]
    problem = assert_problem(
        await post(overt, server_event(name="a\x00b"), **BROWSER), 422, "invalid-event"
    )
    assert locations(problem) == ["$.name"]
    problem = assert_problem(
        await post(overt, {"d": "example.com", "u": "https://example.com/"}, **BROWSER),
        422,
        "invalid-event",
    )
    assert "`n`" in str(problem["detail"])


async def test_the_openapi_lists_the_endpoint(overt: Overt) -> None:
    document = (await overt.client.get("/openapi.json")).json()
    operation = document["paths"]["/api/event"]["post"]
    assert set(operation["requestBody"]["content"]) == {"text/plain", "application/json"}
    assert {"202", "401", "403", "422"} <= set(operation["responses"])
    assert "IngestKey" in document["components"]["securitySchemes"]


async def test_a_body_cannot_make_intake_look_up_many_domains(overt: Overt) -> None:
    batch = [tracker("pageview", d=f"a{n}.org,b{n}.org,example.com") for n in range(6)]
    problem = assert_problem(await post(overt, batch, **BROWSER), 422, "invalid-event")
    assert "distinct domains" in str(problem["detail"])
    assert (await post(overt, batch[:4], **BROWSER)).status_code == 202


async def test_an_ingest_key_over_its_request_budget_gets_429(overt: Overt) -> None:
    """Per key, in Redis when the process has it: the key's own limit, else the setting."""
    _, limited = await create_key(
        engine=overt.resources.engine,
        site_id=overt.site.id,
        scopes=[KeyScope.events_write],
        rate_limit=2,
    )
    other = await ingest_key(overt)
    event = server_event(ip="198.51.100.1")
    for _ in range(2):
        response = await post(overt, event, authorization=f"Bearer {limited}")
        assert response.status_code == 202, response.text
    refused = await post(overt, event, authorization=f"Bearer {limited}")
    body = assert_problem(refused, 429, "rate-limited")
    assert "2 requests per window" in str(body["detail"])
    assert 1 <= int(refused.headers["retry-after"]) <= overt.resources.settings.api_rate_window_s
    # Another key of the same site has its own budget.
    response = await post(overt, server_event(ip="198.51.100.2"), authorization=f"Bearer {other}")
    assert response.status_code == 202, response.text
    assert len(await stored(overt)) == 3  # two of `limited`'s (no id: each is new), one other


async def test_ingest_keys_are_held_briefly_and_only_while_live(overt: Overt) -> None:
    """KeyCache: a live key is read from the database once per TTL; a revoked one is refused
    once its entry is stale; an unknown secret is never held."""
    engine = overt.resources.engine
    live, secret = await create_key(
        engine=engine, site_id=overt.site.id, scopes=[KeyScope.events_write]
    )
    cache = KeyCache(engine)
    assert await cache.authenticate(secret) == live
    assert await cache.authenticate("ovt_nope_nope") is None
    assert len(cache.entries) == 1
    assert await revoke_key(engine=engine, key_id=live.id)
    assert await cache.authenticate(secret) == live  # held: no query within the TTL
    assert await KeyCache(engine, ttl_s=0.0).authenticate(secret) is None
    cache.ttl_s = 0.0
    assert await cache.authenticate(secret) is None
    assert cache.entries == {}
