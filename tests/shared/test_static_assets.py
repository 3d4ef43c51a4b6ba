"""Every static asset of the collector and the consent service (snippet, widget, stylesheets,
CMP bridges) is served through the one implementation in shared/assets.py: brotli or gzip
when the client takes it, a strong ETag answered 304, an hour's cache for the URLs a site
pastes and a year's (immutable) for the versioned URLs Overt links itself."""

from __future__ import annotations

import re

import brotli
import pytest

from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio

PASTED = [
    "/overt.js",  # collector
    "/consent/widget.js",
    "/consent/cmp/cookiebot.js",
    "/consent/cmp/onetrust.js",
    "/consent/cmp/klaro.js",
    "/consent/cmp/cookieconsent.js",
]


@pytest.mark.parametrize("path", PASTED)
async def test_pasted_assets_are_compressed_and_revalidated(overt: Overt, path: str) -> None:
    client = overt.client
    plain = await client.get(path, headers={"accept-encoding": "identity"})
    assert plain.status_code == 200
    assert "javascript" in plain.headers["content-type"]
    assert "content-encoding" not in plain.headers
    assert plain.headers["cache-control"] == "public, max-age=3600"
    assert plain.headers["access-control-allow-origin"] == "*"
    etag = plain.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)  # strong: no W/
    # A raw stream, so httpx does not decode: the bytes on the wire.
    request = client.build_request("GET", path, headers={"accept-encoding": "gzip, br"})
    squeezed = await client.send(request, stream=True)
    wire = b"".join([chunk async for chunk in squeezed.aiter_raw()])
    assert squeezed.headers["content-encoding"] == "br"
    assert brotli.decompress(wire) == plain.content
    assert len(wire) < len(plain.content)
    assert squeezed.headers["etag"] == etag
    assert "accept-encoding" in squeezed.headers["vary"].lower()
    gzipped = await client.get(path, headers={"accept-encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"
    assert gzipped.content == plain.content
    again = await client.get(path, headers={"if-none-match": etag})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == etag
    assert (await client.get(path, headers={"if-none-match": '"0"'})).status_code == 200


async def test_the_widget_links_its_stylesheet_by_version(overt: Overt) -> None:
    client = overt.client
    widget = (await client.get("/consent/widget.js")).text
    match = re.search(r'"(/consent/widget\.css\?v=[0-9a-f]{32})"', widget)
    assert match, "the widget names its stylesheet by version"
    css = await client.get(match.group(1), headers={"accept-encoding": "br"})
    assert css.status_code == 200
    assert "text/css" in css.headers["content-type"]
    assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert css.headers["content-encoding"] == "br"
    stale = await client.get("/consent/widget.css?v=0123")
    assert stale.headers["cache-control"] == "public, max-age=3600"
    assert stale.content == css.content


async def test_an_unknown_bridge_is_a_problem(overt: Overt) -> None:
    client = overt.client
    missing = await client.get("/consent/cmp/usercentrics.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"].endswith("unknown-cmp")
