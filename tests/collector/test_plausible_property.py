"""Property tests for POST /api/event's parser (services/collector/plausible.py) and the
endpoint: whatever JSON arrives, the parser refuses it with InvalidEvent or gives a v1 event
within the v1 bounds; the endpoint never answers a 5xx, with or without an ingest key, and
stores every event of a backend it accepts. Seeded and bounded, as test_parsers_property.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.api.keys.service import create_key
from services.collector import plausible
from services.collector.exceptions import InvalidEvent
from shared.keys import KeyScope
from shared.models import events
from tests.helpers.overt import Overt, wait_drained

PURE = settings(max_examples=400, deadline=None, derandomize=True, database=None)
HTTP = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HOSTILE = ["\x00", "[", "%00", "\n", "\u202e", ",", "://", "www.", "\ud800"]
text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(HOSTILE),
    st.builds(lambda a, b: a + b, st.text(max_size=10), st.sampled_from(HOSTILE)),
)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
json_value = st.recursive(
    scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
urls = st.one_of(
    st.sampled_from(["https://example.com/", "https://www.example.com/a?utm_source=x#/b"]),
    st.builds(lambda path: f"https://example.com/{path}", text),
    text,
)
props = st.one_of(
    st.dictionaries(text, json_value, max_size=5),
    st.builds(json.dumps, st.dictionaries(text, scalar, max_size=4)),
    json_value,
)
revenue = st.one_of(
    st.fixed_dictionaries(
        {
            "amount": st.one_of(st.floats(allow_nan=False), text, st.sampled_from(["1.5", "NaN"])),
            "currency": st.one_of(st.sampled_from(["EUR", "usd", "€€€"]), text),
        }
    ),
    st.builds(json.dumps, st.dictionaries(text, scalar, max_size=2)),
    json_value,
)
maybe = st.one_of  # a field's plausible values, or any JSON at all
event_body = st.fixed_dictionaries(
    {},
    optional={
        "n": maybe(st.sampled_from(["pageview", "engagement", "Outbound Link: Click"]), text),
        "name": maybe(text, json_value),
        "u": maybe(urls, json_value),
        "url": urls,
        "d": maybe(
            st.sampled_from(["example.com", "x.org, Example.com", "https://example.com/"]), text
        ),
        "domain": maybe(text, json_value),
        "r": maybe(st.none(), urls),
        "p": props,
        "m": props,
        "$": revenue,
        "revenue": revenue,
        "i": maybe(st.booleans(), json_value),
        "h": maybe(st.sampled_from([0, 1, True]), json_value),
        "e": maybe(st.integers(-5, 100_000_000), json_value),
        "sd": maybe(st.integers(-(2**40), 2**40), json_value),
        "v": json_value,
        "id": maybe(st.uuids().map(str), text),
        "ip": maybe(st.sampled_from(["198.51.100.1", "2001:db8::1"]), text),
        "user_agent": maybe(st.just("Mozilla/5.0 (X11; Linux x86_64) Firefox/124.0"), text),
        "analytics_id": maybe(st.just("a" * 32), text),
        "consent_token": maybe(text, json_value),
    },
)
# Mostly well-formed events, so most examples get past the decoder and to the site
likely_event = st.fixed_dictionaries(
    {
        "n": st.one_of(st.sampled_from(["pageview", "engagement", "File Download"]), text),
        "u": urls,
        "d": st.sampled_from(["example.com", "nosuch.org,example.com", "WWW.example.com"]),
    },
    optional={
        "r": st.one_of(st.none(), urls),
        "p": st.dictionaries(text, scalar, max_size=4),
        "$": st.fixed_dictionaries(
            {
                "amount": st.one_of(st.floats(-1e6, 1e6), st.sampled_from(["9.99", "1e3", "x"])),
                "currency": st.sampled_from(["EUR", "usd", "US$"]),
            }
        ),
        "h": st.just(1),
        "i": st.booleans(),
        "e": st.integers(0, 100_000),
        "sd": st.integers(-10, 200),
        "v": st.just(36),
    },
)
any_event = st.one_of(likely_event, likely_event, event_body)
bodies = st.one_of(any_event, any_event, st.lists(any_event, min_size=0, max_size=3), json_value)


def encode(body: object) -> bytes:
    """JSON as JSON.stringify could write it: lone surrogates as \\u escapes."""
    return json.dumps(body, ensure_ascii=True).encode()


@PURE
@given(bodies)
def test_the_parser_refuses_or_gives_a_bounded_v1_event(body: object) -> None:
    try:
        decoded = plausible.decoder.decode(encode(body))
    except msgspec.DecodeError:  # ValidationError too: both are 4xx at the endpoint
        event("refused by the decoder")
        return
    sent = decoded if isinstance(decoded, list) else [decoded]
    for index, item in enumerate(sent):
        try:
            translated = plausible.translate(item, f"$[{index}]")
        except InvalidEvent:  # a 422 problem
            event("refused by translate")
            continue
        event("translated")
        assert translated.domains
        assert all(
            domain == domain.strip().lower() and not domain.startswith("www.")
            for domain in translated.domains
        )
        v1 = translated.event
        assert v1.name
        assert v1.url
        assert v1.scroll_depth is None or 0 <= v1.scroll_depth <= 100
        for key, value in (v1.props or {}).items():
            assert 1 <= len(key) <= plausible.PROP_KEY_LENGTH
            assert isinstance(value, (str, int, float, bool))
            assert not isinstance(value, str) or 0 < len(value) <= plausible.PROP_VALUE_LENGTH


async def is_stored(overt: Overt, event_id: str) -> bool:
    await wait_drained(overt.resources.queue, timeout=10.0)
    async with overt.resources.engine.connect() as conn:
        found = await conn.execute(
            select(events.c.event_id).where(events.c.event_id == uuid.UUID(event_id))
        )
    return found.first() is not None


@pytest.mark.anyio
@HTTP
@given(body=bodies, keyed=st.booleans())
async def test_the_endpoint_never_answers_a_5xx(overt: Overt, body: Any, keyed: bool) -> None:
    headers = {"content-type": "text/plain", "origin": "https://example.com"}
    if keyed:
        _, secret = await create_key(
            engine=overt.resources.engine, site_id=overt.site.id, scopes=[KeyScope.events_write]
        )
        headers = {"authorization": f"Bearer {secret}", "x-forwarded-for": "198.51.100.7"}
    response = await overt.client.post("/api/event", content=encode(body), headers=headers)
    assert response.status_code < 500, response.text
    event(f"status {response.status_code}")


@pytest.mark.anyio
@HTTP
@given(body=any_event)
async def test_every_server_side_event_accepted_is_stored(
    overt: Overt, body: dict[str, Any]
) -> None:
    _, secret = await create_key(
        engine=overt.resources.engine, site_id=overt.site.id, scopes=[KeyScope.events_write]
    )
    event_id = str(uuid.uuid4())
    sent = {"n": "Signup", "u": "https://example.com/", "d": "example.com"} | body
    sent |= {"id": event_id, "ip": "198.51.100.7"}
    sent.pop("user_agent", None)  # a crawler's would be dropped: not this test's subject
    response = await overt.client.post(
        "/api/event", content=encode(sent), headers={"authorization": f"Bearer {secret}"}
    )
    assert response.status_code < 500, response.text
    event(f"status {response.status_code}")
    if response.status_code == 202:
        assert await is_stored(overt, event_id), sent
