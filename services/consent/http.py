"""HTTP pieces every consent router shares: the CORS header, the site path prefix, and the
one parser of the Origin header."""

from __future__ import annotations

from urllib.parse import urlsplit

# The consent API authenticates with a credential in a header or the body, never a cookie,
# so any origin may call it: there is no ambient authority for another site to borrow. Its
# errors must be readable cross-origin too, or the widget cannot react.
CORS = {"Access-Control-Allow-Origin": "*"}

SITE = "/consent/sites/{site_id}"


def origin_host(origin: str) -> str | None:
    """The `host[:port]` of an http(s) Origin header, lower-cased; None for anything else.

    Anything a browser would not send (`null`, another scheme, an unclosed `[`, a path,
    credentials) is None, so a caller can only refuse it, never fail on it.
    """
    try:
        parts = urlsplit(origin.strip())
        hostname = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not hostname or parts.username is not None:
        return None
    if parts.path or parts.query or parts.fragment or parts.password is not None:
        return None
    return parts.netloc.lower()
