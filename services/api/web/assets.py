"""The web app's scripts and stylesheets: every file under static/ (vendored htmx and uPlot,
Overt's own app.css and app.js, and whatever a page package adds there), served from memory
by shared.assets (ETag, brotli or gzip, a year's caching under `?v=`)."""

from __future__ import annotations

from pathlib import Path

from shared.assets import Asset

STATIC = Path(__file__).parent / "static"
STATIC_PREFIX = "/app/static/"
MEDIA_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}


def load_assets(root: Path = STATIC) -> dict[str, Asset]:
    """Every servable file under `root`, by its path below it ("vendor/htmx/htmx.min.js")."""
    return {
        path.relative_to(root).as_posix(): Asset.file(path, MEDIA_TYPES[path.suffix])
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in MEDIA_TYPES
    }


ASSETS = load_assets()


def static_url(name: str) -> str:
    """The immutable URL of a static file (KeyError for a file that is not there, so a
    template naming a missing file fails its test instead of a browser's request)."""
    return ASSETS[name].url(STATIC_PREFIX + name)
