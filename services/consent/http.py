"""HTTP pieces every consent router shares: the CORS header, the site path prefix, and the
one parser of the Origin header."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

# The consent API authenticates with a credential in a header or the body, never a cookie,
# so any origin may call it: there is no ambient authority for another site to borrow. Its
# errors must be readable cross-origin too, or the widget cannot react.
CORS = {"Access-Control-Allow-Origin": "*"}

SITE = "/consent/sites/{site_id}"


def _http_url(url: str) -> SplitResult | None:
    """An http(s) URL with a host and no user name, split; None for anything else."""
    try:
        parts = urlsplit(url.strip())
        hostname = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not hostname or parts.username is not None:
        return None
    return parts


def origin_host(origin: str) -> str | None:
    """The `host[:port]` of an http(s) Origin header, lower-cased; None for anything else.

    Anything a browser would not send (`null`, another scheme, an unclosed `[`, a path,
    credentials) is None, so a caller can only refuse it, never fail on it.
    """
    parts = _http_url(origin)
    if parts is None or parts.path or parts.query or parts.fragment or parts.password is not None:
        return None
    return parts.netloc.lower()


def referer_host(referer: str) -> str | None:
    """The `host[:port]` of the page a Referer header names, lower-cased; None unless http(s)."""
    parts = _http_url(referer)
    return None if parts is None else parts.netloc.lower()
