"""Property tests for the collector's parsers of outside input, and for /e end to end.

Every parser of what a visitor's browser (or anyone) sends never raises and returns only
values the `events` table can store (services/collector/storable.py); /e never answers a
5xx, and every event it accepts is stored on both backends. Seeded (derandomized) and
bounded, so the file runs in seconds and the same examples run every time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.collector.enrich import (
    PageUrl,
    Referral,
    Refused,
    classify_referrer,
    classify_referrer_whole,
    classify_user_agent,
    deciding_part,
    parse_page_url,
    parse_page_url_whole,
)
from services.collector.service import _origin_host, client_facts
from services.collector.storable import LIMIT, storable
from shared.models import events
from tests.helpers.overt import Overt, wait_drained

PURE = settings(max_examples=300, deadline=None, derandomize=True, database=None)
HTTP = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any code point, NUL, controls and lone surrogates included; and, for bodies /e should
# mostly get past its JSON decoder (which refuses lone surrogates), everything else.
ANY_CHAR = st.characters(exclude_categories=())
HOSTILE = ["\x00", "[", "]", "%00", "\uff03", "\n", "\x7f", "\u202e"]
any_text = st.lists(
    st.one_of(ANY_CHAR, st.sampled_from([*HOSTILE, "\ud800", "\udfff"])), max_size=60
).map("".join)
_plain = st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), max_size=30)
json_text = st.one_of(
    _plain,
    _plain,
    st.builds(lambda a, odd, b: a + odd + b, _plain, st.sampled_from(HOSTILE), _plain),
)
UTM_KEYS = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "UTM_Source"]


def percent_encoded(value: str) -> str:
    """Percent-encoded as a browser would (UTF-8), lone surrogates included."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def page_urls(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Page URLs of the site (example.com): long or odd subdomains, paths, UTM values."""
    label = st.one_of(
        st.integers(1, 70).map(lambda n: "a" * n),
        st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
        text,
    )
    subdomain = st.lists(label, max_size=6).map(lambda labels: "".join(f"{x}." for x in labels))
    utm = st.lists(
        st.tuples(
            st.sampled_from(UTM_KEYS),
            st.one_of(text, st.integers(200, 400).map(lambda n: "c" * n)),
        ),
        max_size=4,
    ).map(lambda pairs: "&".join(f"{key}={percent_encoded(value)}" for key, value in pairs))
    return st.builds(
        lambda scheme, sub, path, query, fragment: (
            f"{scheme}://{sub}example.com/{path}?{query}#{fragment}"
        ),
        st.sampled_from(["https", "http", "HTTPS"]),
        st.one_of(st.just(""), subdomain),
        text,
        utm,
        st.one_of(st.just(""), text.map(lambda fragment: "/" + fragment)),
    )


def url_likes(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    odd_authority = st.sampled_from(["[", "[::1", "example.com]", "[x]", "a:99999", "exa\uff03m"])
    return st.one_of(
        page_urls(text),
        text,
        st.builds(lambda scheme, rest: scheme + rest, st.sampled_from(["https://", "ftp:"]), text),
        st.builds(lambda authority, rest: f"https://{authority}/{rest}", odd_authority, text),
    )


page_url = page_urls(any_text)
url_like = url_likes(any_text)
USER_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 "
    "Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
]
user_agent = st.one_of(
    st.sampled_from(USER_AGENTS),
    st.builds(lambda app: f"{app}/1.0 CFNetwork/1209 Darwin/20.2.0", any_text),
    st.builds(lambda name: f"Mozilla/5.0 ({name}) {name}/1.0", any_text),
    any_text,
)


def latin1(text: str) -> bytes:
    """Text as header bytes (ASGI hands the app raw bytes); beyond Latin-1 as UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def assert_fits(column: str, value: str | None) -> None:
    if value is not None:
        assert len(value) <= LIMIT[column], (column, len(value))
        assert storable(value), (column, value)


@PURE
@given(url_like, st.booleans())
def test_a_page_url_is_parsed_or_refused_never_raises(url: str, hash_routing: bool) -> None:
    page = parse_page_url(url, hash_routing)
    assert isinstance(page, PageUrl | Refused)
    if isinstance(page, PageUrl):
        assert_fits("host", page.host)
        assert_fits("path", page.path)
        for column, value in page.utm.items():
            assert_fits(column, value)


@PURE
@given(st.one_of(st.none(), url_like), st.sampled_from(["example.com", "www.example.com"]))
def test_a_referrer_is_classified_or_refused_never_raises(
    referrer: str | None, page_host: str
) -> None:
    referral = classify_referrer(referrer, page_host)
    assert isinstance(referral, Referral | Refused)
    if isinstance(referral, Referral):
        assert_fits("referrer", referral.url)
        assert_fits("source", referral.source)
        assert_fits("medium", referral.medium)


# Queries as links write them: ad click ids, UTM keys in any case, percent-encoded or
# broken by a tab, blank values, and the separators out of place ("?" twice, "#" first).
_query_piece = st.one_of(
    st.sampled_from(
        [
            "gclid",
            "fbclid",
            "utm_source",
            "UTM_Medium",
            "%75tm_campaign",
            "utm\t_term",
            "utm_content",
            "Utm_Source",
            "u%74m_medium",
            "+utm_source",
            "q",
            "=",
            "&",
            "?",
            "#",
            "/",
            "%",
            "%2",
            "[",
            "\n",
        ]
    ),
    any_text,
)
query_like = st.lists(_query_piece, max_size=10).map("".join)


@PURE
@given(
    st.one_of(
        st.builds(
            lambda scheme, sub, path: f"{scheme}://{sub}example.com/{path}",
            st.sampled_from(["https", "HTTP"]),
            st.sampled_from(["", "www.", "[", "a\tb."]),
            query_like,
        ),
        url_like,
    ),
    st.lists(
        st.tuples(_query_piece, st.sampled_from(["=", ""]), st.one_of(st.just("x"), query_like)),
        max_size=4,
    ),
    st.sampled_from(["", "#", "#/app?utm_source=x", "#?utm_medium=y"]),
    st.booleans(),
)
@example("https://example.com/p", [("%75tm_source", "=", "x"), ("gclid", "=", "1")], "", False)
@example("https://example.com/p", [("utm\t_source", "=", "x")], "#/q", False)
@example("https://example.com/p", [("UTM_Medium", "=", "x"), ("utm_medium", "=", "y")], "", True)
@example("https://example.com/p", [("fbclid", "=", "1")], "#/app?utm_source=x", True)
@example("https://example.com/p#/a", [("utm_source", "=", "x")], "", True)
def test_a_page_url_parses_as_its_deciding_part_does(
    head: str, pairs: list[tuple[str, str, str]], fragment: str, hash_routing: bool
) -> None:
    """The caches answer a URL with the parse of its deciding part (click ids and, without
    hash routing, the fragment dropped): the answer must be the whole URL's."""
    query = "&".join(f"{key}{mark}{value}" for key, mark, value in pairs)
    whole = f"{head}?{query}{fragment}"
    expected = parse_page_url_whole(whole, hash_routing)
    assert parse_page_url_whole(deciding_part(whole, hash_routing), hash_routing) == expected
    assert parse_page_url(whole, hash_routing) == expected
    if pairs and pairs[0][0] in ("%75tm_source", "utm\t_source"):  # the examples above
        assert isinstance(expected, PageUrl)
        assert expected.utm == {"utm_source": "x"}


@PURE
@given(
    st.one_of(st.none(), url_like),
    st.sampled_from(["", "?", "#", "?#", "#?"]),
    query_like,
    st.sampled_from(["example.com", "www.example.com"]),
)
def test_a_referrer_classifies_as_it_does_without_its_query(
    referrer: str | None, glue: str, query: str, page_host: str
) -> None:
    whole = None if referrer is None else referrer + glue + query
    assert classify_referrer(whole, page_host) == classify_referrer_whole(whole, page_host)


@PURE
@given(user_agent)
def test_a_user_agent_gives_storable_device_names(user_agent: str) -> None:
    device = classify_user_agent(user_agent)
    assert_fits("browser", device.browser)
    assert_fits("os", device.os)
    assert_fits("browser_version", device.browser_version)
    assert_fits("os_version", device.os_version)
    assert_fits("device", device.device)


@PURE
@given(st.one_of(st.none(), url_like))
def test_an_origin_is_a_host_or_refused_never_raises(origin: str | None) -> None:
    host = _origin_host(origin)
    assert host is None if origin is None else (host is False or isinstance(host, str))


def raw(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """Header values as arbitrary bytes, or text made bytes the way a client would."""
    return st.one_of(st.binary(max_size=200), strategy.map(latin1))


@PURE
@given(
    raw(st.sampled_from(["text/plain", "application/json; charset=utf-8"])),
    st.one_of(st.none(), raw(url_like)),
    raw(user_agent),
    st.one_of(st.none(), st.binary(max_size=8), st.just(b"1")),
    st.one_of(st.none(), st.binary(max_size=4), raw(any_text)),
)
def test_header_values_give_storable_client_facts(
    content_type: bytes,
    origin: bytes | None,
    user_agent: bytes,
    sec_gpc: bytes | None,
    country: bytes | None,
) -> None:
    facts = client_facts(content_type, origin, user_agent, sec_gpc, country)
    assert_fits("browser", facts.device.browser)
    assert_fits("os", facts.device.os)
    assert facts.country is None or (
        len(facts.country) == 2 and facts.country.isascii() and facts.country.isupper()
    )


# /e end to end, on both backends (the `overt` fixture is parametrised).

event_body = st.fixed_dictionaries(
    {
        # Page URLs of the site only (the test below tries any `u`): most examples should
        # get past intake and reach the worker.
        "n": st.one_of(st.sampled_from(["pageview", "engagement", "Signup"]), json_text),
        "u": page_urls(json_text),
        "r": st.one_of(st.none(), url_likes(json_text)),
    },
    optional={
        "p": st.dictionaries(
            json_text, st.one_of(json_text, st.booleans(), st.floats(allow_nan=False)), max_size=4
        ),
        "a": st.one_of(st.just("0" * 32), st.just("F" * 32), st.text(min_size=32, max_size=32)),
        "h": st.just(1),
        "e": st.integers(0, 10_000),
        "d": st.integers(0, 100),
    },
)


def encode(body: Mapping[str, object]) -> bytes:
    """JSON as a browser's JSON.stringify could write it: lone surrogates as \\u escapes."""
    return json.dumps(body, ensure_ascii=True).encode()


async def is_stored(overt: Overt, event_id: str) -> bool:
    await wait_drained(overt.resources.queue, timeout=10.0)
    async with overt.resources.engine.connect() as conn:
        found = await conn.execute(
            select(events.c.event_id).where(events.c.event_id == uuid.UUID(hex=event_id))
        )
    return found.first() is not None


@pytest.mark.anyio
@HTTP
@given(body=event_body, agent=user_agent)
async def test_every_event_accepted_is_stored(
    overt: Overt, body: dict[str, object], agent: str
) -> None:
    event_id = uuid.uuid4().hex
    sent = {"s": overt.site.id, "i": event_id, **body}
    response = await overt.client.post(
        "/e",
        content=encode(sent),
        headers={
            b"content-type": b"text/plain",
            b"origin": b"https://example.com",
            b"user-agent": latin1(agent),
        },
    )
    assert response.status_code < 500, response.text
    event(f"status {response.status_code}")
    bot = classify_user_agent(latin1(agent).decode("latin-1")).is_bot
    if response.status_code == 202 and not bot:
        assert await is_stored(overt, event_id), sent


@pytest.mark.anyio
@HTTP
@given(
    url=st.one_of(page_urls(json_text), url_likes(json_text)),
    referrer=st.one_of(st.none(), url_likes(json_text)),
    origin=st.one_of(st.none(), raw(url_like)),
    agent=raw(user_agent),
)
async def test_no_url_origin_or_user_agent_gives_a_5xx(
    overt: Overt, url: str, referrer: str | None, origin: bytes | None, agent: bytes
) -> None:
    headers = {b"content-type": b"text/plain", b"user-agent": agent}
    if origin is not None:
        headers[b"origin"] = origin
    body = {"s": overt.site.id, "i": uuid.uuid4().hex, "n": "pageview", "u": url, "r": referrer}
    response = await overt.client.post("/e", content=encode(body), headers=headers)
    assert response.status_code < 500, response.text
    event(f"status {response.status_code}")
