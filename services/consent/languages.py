"""The languages the widget and the preference page speak, and the choice of one.

The widget's words are JSON files (static/i18n/LANG.json); the preference page's are gettext
catalogues (preferences/locale/LANG/LC_MESSAGES/messages.po, made with `make messages`).
"""

from __future__ import annotations

LANGUAGES = ("en", "de", "fr", "es", "it", "nl")
MAX_ACCEPT_LANGUAGE = 512  # longer headers are read up to here
MAX_RANGES = 32


def spoken_language(tag: str | None) -> str:
    """The language of ours for a BCP 47 tag (`de-AT` -> `de`): English for any other."""
    primary = (tag or "").split("-", 1)[0].split("_", 1)[0].strip().lower()
    return primary if primary in LANGUAGES else "en"


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def accepted_language(header: str | None) -> str | None:
    """The first of our languages an Accept-Language header takes, by its q-values (ties in
    the header's order); None when it takes none of them."""
    ranked: list[tuple[float, int, str]] = []
    items = (header or "")[:MAX_ACCEPT_LANGUAGE].split(",")[:MAX_RANGES]
    for position, item in enumerate(items):
        tag, _, params = item.partition(";")
        primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
        quality = _quality(params)
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else None


def page_language(asked: str | None, header: str | None) -> str:
    """The preference page's language: the one the link asks (`?lang=`, from the widget, so
    the page speaks as the site did), else the browser's Accept-Language, else English."""
    if asked and spoken_language(asked) == asked.split("-", 1)[0].lower():
        return spoken_language(asked)
    return accepted_language(header) or "en"
