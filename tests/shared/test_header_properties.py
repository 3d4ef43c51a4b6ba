"""Property tests for what /docs assets, /metrics and the client-IP rule read from request
headers: any Accept-Encoding, If-None-Match, Authorization or forwarding value gets an
answer (never an exception), and only the exact token, or the exact ETag, changes it."""

from __future__ import annotations

import ipaddress

import brotli
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from starlette.requests import Request

from shared.assets import Asset, asset_response
from shared.clients import choose_client_ip, client_ip
from shared.metrics import MetricsNotLocal, MetricsTokenRequired, check_metrics_access
from shared.settings import Settings

BOUNDED = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
TOKEN = "t" * 24
# Header values as a client can send them (latin-1, no line breaks).
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=80,
)


def request(headers: dict[str, str]) -> Request:
    raw = [(name.encode(), value.encode("latin-1")) for name, value in headers.items()]
    return Request(
        {"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": b""}
    )


@pytest.fixture(scope="module")
def asset(tmp_path_factory: pytest.TempPathFactory) -> Asset:
    path = tmp_path_factory.mktemp("asset") / "a.js"
    path.write_bytes(b"console.log('x');\n" * 200)
    return Asset.file(path, "text/javascript")


@BOUNDED
@given(encoding=header_text, tag=header_text)
def test_any_accept_encoding_and_if_none_match_get_an_answer(
    asset: Asset, encoding: str, tag: str
) -> None:
    response = asset_response(
        request({"accept-encoding": encoding, "if-none-match": tag}), asset, headers={}
    )
    if asset.etag in tag:
        assert response.status_code in (200, 304)
    else:
        assert response.status_code == 200
    if response.status_code == 200:
        assert response.headers["etag"] == asset.etag
        coding = response.headers.get("content-encoding")
        assert (
            response.body == {"br": asset.brotli, "gzip": asset.gzipped, None: asset.body}[coding]
        )
        if coding is not None:  # only for a client that named it (or any coding)
            assert coding in encoding.lower() or "*" in encoding
        assert brotli.decompress(asset.brotli or b"") == asset.body


@BOUNDED
@given(
    before=st.sampled_from(["", "deflate, ", "identity;q=0.5, "]),
    after=st.sampled_from(["", ", deflate", ", br;q=0"]),
)
def test_a_client_that_takes_gzip_gets_it(asset: Asset, before: str, after: str) -> None:
    for coding in ("gzip", "GZip", "gzip;q=0.8", "br;q=0, *"):
        header = before + coding + after
        response = asset_response(request({"accept-encoding": header}), asset, headers={})
        assert response.headers.get("content-encoding") == "gzip", header
    refused = asset_response(request({"accept-encoding": "gzip;q=0"}), asset, headers={})
    assert "content-encoding" not in refused.headers
    tagged = asset_response(request({"if-none-match": f'W/{asset.etag}, "x"'}), asset, headers={})
    assert tagged.status_code == 304


@BOUNDED
@given(
    before=st.sampled_from(["", "gzip, ", "gzip;q=1.0, ", "identity;q=0.5, "]),
    coding=st.sampled_from(["br", "BR", "br;q=0.1", "*"]),
    after=st.sampled_from(["", ", gzip", ", deflate"]),
)
def test_a_client_that_takes_brotli_gets_it(
    asset: Asset, before: str, coding: str, after: str
) -> None:
    header = before + coding + after
    response = asset_response(request({"accept-encoding": header}), asset, headers={})
    assert response.headers["content-encoding"] == "br", header
    assert len(response.body) < len(asset.gzipped or b"")


@BOUNDED
@given(query=header_text.map(lambda text: text.encode("latin-1")))
def test_only_the_current_version_is_cached_for_good(asset: Asset, query: bytes) -> None:
    def cache_control(query_string: bytes) -> str:
        scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
        response = asset_response(
            Request({**scope, "query_string": query_string}), asset, headers={}
        )
        assert response.body == asset.body
        return response.headers["cache-control"]

    assert cache_control(f"v={asset.version}".encode()) == "public, max-age=31536000, immutable"
    assert asset.url("/a.js") == f"/a.js?v={asset.version}"
    if query != f"v={asset.version}".encode():
        assert cache_control(query) in (
            "public, max-age=3600",
            "public, max-age=31536000, immutable",
        )
    assert cache_control(b"v=" + asset.version[:-1].encode()) == "public, max-age=3600"
    assert cache_control(b"") == "public, max-age=3600"


@BOUNDED
@given(value=header_text, peer=st.sampled_from(["127.0.0.1", "::1", "203.0.113.7", None, "x"]))
def test_only_the_exact_bearer_token_opens_metrics(value: str, peer: str | None) -> None:
    tokened = Settings(metrics_token=SecretStr(TOKEN))
    exact = value.partition(" ")[0].lower() == "bearer" and value.partition(" ")[2].strip() == TOKEN
    try:
        check_metrics_access(settings=tokened, peer=peer, headers={"authorization": value})
    except MetricsTokenRequired:
        assert not exact
    else:
        assert exact


@BOUNDED
@given(peer=st.one_of(st.none(), header_text, st.ip_addresses().map(str)))
def test_without_a_token_only_loopback_peers_read_metrics(peer: str | None) -> None:
    try:
        check_metrics_access(settings=Settings(), peer=peer, headers={})
    except MetricsNotLocal:
        allowed = False
    else:
        allowed = True
    try:
        loopback = peer is not None and ipaddress.ip_address(peer).is_loopback
    except ValueError:
        loopback = False
    assert allowed == loopback


@BOUNDED
@given(forwarded=header_text, peer=st.ip_addresses().map(str))
def test_the_client_ip_is_the_proxys_first_address_or_the_peers(forwarded: str, peer: str) -> None:
    """Whatever a trusted proxy's header holds, the answer is its first comma-separated
    entry, stripped, or the peer's address when that entry is empty; the same from raw values
    (the collector's front layer) and from a request."""
    first = forwarded.split(",", 1)[0].strip()
    expected = first or peer
    assert choose_client_ip(forwarded, peer) == expected
    assert choose_client_ip(None, peer) == peer
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"x-real-ip", forwarded.encode("latin-1"))],
        "client": (peer, 1234),
    }
    configured = Settings(client_ip_header="X-Real-IP")
    assert client_ip(Request(scope), configured) == expected
    assert client_ip(Request(scope), Settings()) == peer
