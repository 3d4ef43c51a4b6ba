"""The consent service's static assets (widget, its stylesheet and words, the preference
page's stylesheet, the CMP bridges), read once and served through `shared.assets`.

The widget and the preference page link their stylesheets by versioned URL (immutable); the
URLs a site pastes (the widget, a bridge) are stable and revalidated.
"""

from __future__ import annotations

import re
from pathlib import Path

from services.consent.languages import LANGUAGES
from services.consent.ledger.service import Source
from shared.assets import Asset

STATIC = Path(__file__).parent / "static"
WIDGET_CSS_PATH = "/consent/widget.css"
PREFERENCES_CSS_PATH = "/consent/preferences.css"

WIDGET_CSS = Asset.file(STATIC / "widget.css", "text/css")
PREFERENCES_CSS = Asset.file(STATIC / "preferences.css", "text/css")


def without_comments(source: bytes) -> bytes:
    """JavaScript without its comment blocks and lines, indentation or blank lines: what a
    browser needs of widget.js (its documentation stays in the source and the README).
    Only whole-line comments go, so no string or regular expression is ever cut."""
    text = re.sub(rb"(?ms)^[ \t]*/\*.*?\*/[ \t]*\n", b"", source)
    lines = (line.strip() for line in text.splitlines())
    return b"\n".join(line for line in lines if line and not line.startswith(b"//")) + b"\n"


def _widget() -> Asset:
    """widget.js as served: without comments, its stylesheet's link pinned to the
    stylesheet's current version."""
    source = without_comments((STATIC / "widget.js").read_bytes())
    link = f'"{WIDGET_CSS_PATH}"'.encode()
    assert source.count(link) == 1, "widget.js names its stylesheet exactly once"
    pinned = f'"{WIDGET_CSS.url(WIDGET_CSS_PATH)}"'.encode()
    return Asset(source.replace(link, pinned), "text/javascript")


WIDGET_JS = _widget()


def _bridge(name: str) -> Asset:
    core = (STATIC / "cmp" / "bridge.js").read_bytes()
    adapter = (STATIC / "cmp" / f"{name}.js").read_bytes()
    return Asset(b"(function () {\n" + core + adapter + b"})();\n", "text/javascript")


# The widget's words, one file per language, fetched by the widget for the page's language
# only (a site's own wording is added by /purposes, see notices/router.py).
WIDGET_STRINGS = {
    lang: Asset.file(STATIC / "i18n" / f"{lang}.json", "application/json") for lang in LANGUAGES
}


# Each bridge is the shared core (cmp/bridge.js) and one CMP's adapter (cmp/NAME.js) in one
# script, so a page loads one small file, and only the one for the CMP it runs.
CMP_BRIDGES = {source.value: _bridge(source.value) for source in Source}
