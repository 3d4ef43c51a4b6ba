"""The consent service's static assets (widget, its stylesheet, the preference page's
stylesheet, the CMP bridges), read once and served through `shared.assets`.

The widget and the preference page link their stylesheets by versioned URL (immutable); the
URLs a site pastes (the widget, a bridge) are stable and revalidated.
"""

from __future__ import annotations

from pathlib import Path

from services.consent.ledger.service import Source
from shared.assets import Asset

STATIC = Path(__file__).parent / "static"
WIDGET_CSS_PATH = "/consent/widget.css"
PREFERENCES_CSS_PATH = "/consent/preferences.css"

WIDGET_CSS = Asset.file(STATIC / "widget.css", "text/css")
PREFERENCES_CSS = Asset.file(STATIC / "preferences.css", "text/css")


def _widget() -> Asset:
    """widget.js, its stylesheet's link pinned to the stylesheet's current version."""
    source = (STATIC / "widget.js").read_bytes()
    link = f'"{WIDGET_CSS_PATH}"'.encode()
    assert source.count(link) == 1, "widget.js names its stylesheet exactly once"
    pinned = f'"{WIDGET_CSS.url(WIDGET_CSS_PATH)}"'.encode()
    return Asset(source.replace(link, pinned), "text/javascript")


WIDGET_JS = _widget()


def _bridge(name: str) -> Asset:
    core = (STATIC / "cmp" / "bridge.js").read_bytes()
    adapter = (STATIC / "cmp" / f"{name}.js").read_bytes()
    return Asset(b"(function () {\n" + core + adapter + b"})();\n", "text/javascript")


# Each bridge is the shared core (cmp/bridge.js) and one CMP's adapter (cmp/NAME.js) in one
# script, so a page loads one small file, and only the one for the CMP it runs.
CMP_BRIDGES = {source.value: _bridge(source.value) for source in Source}
