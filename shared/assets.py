"""Static assets served from memory, one implementation for every service: a strong ETag
(answered 304 on If-None-Match), brotli or gzip when the client accepts it (each made once,
on first use), and caching that matches the URL.

Caching: a URL a site pastes into its pages (`/overt.js`, `/consent/widget.js`, a CMP bridge)
can never change, so it is cached for `PASTED_MAX_AGE` and then revalidated (a 304 of a few
hundred bytes while it is unchanged). A URL that carries the asset's version (`?v=VERSION`,
as Overt's own scripts and pages link their stylesheets, see `Asset.url`) names one exact
body and is cached for a year, `immutable`. A `?v=` of another version gets the current
body under the short rule, so a stale link never pins an old file.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import brotli
from starlette.requests import Request
from starlette.responses import Response

# Small bodies gain nothing from compression.
MIN_COMPRESS_BYTES = 256
# Brotli's best quality takes seconds on a megabyte; large files get a quicker level.
BROTLI_BEST_UP_TO = 256 * 1024
PASTED_MAX_AGE = 3600
VERSIONED = "public, max-age=31536000, immutable"
PASTED = f"public, max-age={PASTED_MAX_AGE}"


@dataclass(frozen=True, eq=False)
class Asset:
    """One file's bytes; its compressed forms are made the first time each is asked for."""

    body: bytes
    media_type: str

    @classmethod
    def file(cls, path: Path, media_type: str) -> Asset:
        return cls(path.read_bytes(), media_type)

    @cached_property
    def version(self) -> str:
        return hashlib.sha256(self.body).hexdigest()[:32]

    @cached_property
    def etag(self) -> str:
        return f'"{self.version}"'

    def url(self, path: str) -> str:
        """`path` with this version: the immutable URL of exactly these bytes."""
        return f"{path}?v={self.version}"

    @cached_property
    def gzipped(self) -> bytes | None:
        if len(self.body) < MIN_COMPRESS_BYTES:
            return None
        return gzip.compress(self.body, compresslevel=9, mtime=0)

    @cached_property
    def brotli(self) -> bytes | None:
        if len(self.body) < MIN_COMPRESS_BYTES:
            return None
        quality = 11 if len(self.body) <= BROTLI_BEST_UP_TO else 5
        compressed: bytes = brotli.compress(self.body, quality=quality)
        return compressed


def accepts(request: Request, coding: str) -> bool:
    """Whether Accept-Encoding takes `coding`: named with q > 0, or not named and "*" is."""
    named: dict[str, bool] = {}
    for item in request.headers.get("accept-encoding", "").split(","):
        name, _, params = item.strip().partition(";")
        quality = params.replace(" ", "").lower()
        refused = quality.startswith("q=") and quality[2:].rstrip("0").rstrip(".") in ("0", "")
        named[name.strip().lower()] = not refused
    return named.get(coding, named.get("*", False))


def preferred_coding(request: Request) -> str | None:
    """ "br" or "gzip" (brotli first: smaller), or None for the identity."""
    return next((coding for coding in ("br", "gzip") if accepts(request, coding)), None)


def asset_response(request: Request, asset: Asset, *, headers: dict[str, str]) -> Response:
    """The asset, or 304 when the client holds this version; compressed if the client takes it.

    `headers` are the route's own (CORS, nosniff...); Cache-Control is decided here, by the
    URL (see the module's docstring)."""
    versioned = request.query_params.get("v") == asset.version
    common = {
        **headers,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
        "Cache-Control": VERSIONED if versioned else PASTED,
    }
    given = request.headers.get("if-none-match", "")
    if asset.etag in (tag.strip().removeprefix("W/") for tag in given.split(",")):
        return Response(status_code=304, headers=common)
    coding = preferred_coding(request)
    body = {"br": asset.brotli, "gzip": asset.gzipped}.get(coding or "")
    if coding is not None and body is not None:
        return Response(
            body, media_type=asset.media_type, headers={**common, "Content-Encoding": coding}
        )
    return Response(asset.body, media_type=asset.media_type, headers=common)
