"""Static assets served from memory: an ETag (answered 304 on If-None-Match), gzip when the
client accepts it (compressed once, on first use), and headers for long caching."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

# Small bodies gain nothing from compression.
MIN_GZIP_BYTES = 1024


@dataclass(frozen=True)
class Asset:
    """One file, read once; its compressed form is made the first time it is asked for."""

    path: Path
    media_type: str

    @cached_property
    def body(self) -> bytes:
        return self.path.read_bytes()

    @cached_property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'

    @cached_property
    def gzipped(self) -> bytes | None:
        if len(self.body) < MIN_GZIP_BYTES:
            return None
        return gzip.compress(self.body, compresslevel=9, mtime=0)


def accepts_gzip(request: Request) -> bool:
    for coding in request.headers.get("accept-encoding", "").split(","):
        name, _, params = coding.strip().partition(";")
        if name.strip().lower() in ("gzip", "*") and params.replace(" ", "") not in (
            "q=0",
            "q=0.0",
        ):
            return True
    return False


def asset_response(request: Request, asset: Asset, *, headers: dict[str, str]) -> Response:
    """The asset, or 304 when the client holds this version; gzipped if the client takes it."""
    common = {**headers, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    given = request.headers.get("if-none-match", "")
    if asset.etag in (tag.strip().removeprefix("W/") for tag in given.split(",")):
        return Response(status_code=304, headers=common)
    if asset.gzipped is not None and accepts_gzip(request):
        return Response(
            asset.gzipped,
            media_type=asset.media_type,
            headers={**common, "Content-Encoding": "gzip"},
        )
    return Response(asset.body, media_type=asset.media_type, headers=common)
