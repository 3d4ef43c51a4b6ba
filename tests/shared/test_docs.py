"""/docs on every service works offline and under a strict CSP: the page loads Swagger UI
from Overt itself (no CDN), has no inline script, cannot be framed, and its assets are
served compressed with validators."""

from __future__ import annotations

import gzip
from html.parser import HTMLParser

import httpx
import pytest

from services.cli import service_app
from shared.settings import Settings

pytestmark = pytest.mark.anyio


class References(HTMLParser):
    """What a page makes the browser fetch (scripts, stylesheets, images, icons) and the
    bodies of its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self._in_script = named.get("src") is None
            if named.get("src"):
                self.urls.append(str(named["src"]))
        elif tag == "link" and named.get("href"):
            self.urls.append(str(named["href"]))
        elif tag in ("img", "iframe", "source") and named.get("src"):
            self.urls.append(str(named["src"]))
        for name, value in attrs:
            assert not name.startswith("on"), f"inline handler {name} on <{tag}>"
            assert not (value or "").startswith("javascript:")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def directives(csp: str) -> dict[str, list[str]]:
    parsed = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


@pytest.mark.parametrize("service", ["api", "consent"])
async def test_docs_page_loads_only_overt_assets_under_a_strict_csp(
    sqlite_settings: Settings, service: str
) -> None:
    app = service_app(sqlite_settings, service)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://overt.test") as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        parser = References()
        parser.feed(page.text)
        assert parser.inline_scripts == []
        # Versioned URLs (?v=...): cached for good, since they name one exact body.
        scripts = [url for url in parser.urls if url.split("?")[0].endswith(".js")]
        styles = [url for url in parser.urls if url.split("?")[0].endswith(".css")]
        assert scripts
        assert styles
        for url in parser.urls:
            # Same origin: a path, never a host (a CDN) or a protocol-relative URL.
            assert url.startswith("/"), url
            assert not url.startswith("//"), url
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 100, url
            kind = "javascript" if url in scripts else "css"
            assert kind in asset.headers["content-type"], url
            assert "?v=" in url, url
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable", url
        bodies = [(await client.get(url)).content for url in scripts]
        assert any(b"SwaggerUIBundle" in body for body in bodies)

        csp = directives(page.headers["content-security-policy"])
        assert csp["frame-ancestors"] == ["'none'"]
        assert csp["default-src"] == ["'none'"]
        assert csp["script-src"] == ["'self'"]  # no inline script, no eval
        assert csp["connect-src"] == ["'self'"]  # the OpenAPI document and "try it out"
        assert csp["base-uri"] == ["'none'"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert (await client.get("/openapi.json")).status_code == 200


async def test_docs_assets_are_compressed_and_revalidated(sqlite_settings: Settings) -> None:
    app = service_app(sqlite_settings, "api")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://overt.test") as client:
        parser = References()
        parser.feed((await client.get("/docs")).text)
        bundle = next(url for url in parser.urls if "swagger-ui-bundle" in url)
        plain = await client.get(bundle, headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers
        squeezed = await client.get(bundle, headers={"accept-encoding": "gzip"})
        assert squeezed.headers["content-encoding"] == "gzip"
        assert int(squeezed.headers["content-length"]) < len(plain.content) / 2
        assert squeezed.content == plain.content  # httpx decoded it
        assert "accept-encoding" in squeezed.headers["vary"].lower()
        etag = plain.headers["etag"]
        again = await client.get(bundle, headers={"if-none-match": etag})
        assert (again.status_code, again.content) == (304, b"")
        changed = await client.get(bundle, headers={"if-none-match": '"something-else"'})
        assert changed.status_code == 200
        missing = await client.get("/docs/assets/nothing.js")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert gzip.decompress(gzip.compress(b"x")) == b"x"
