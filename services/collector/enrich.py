"""Enrichment without keeping personal data: URL, referrer, campaign and device fields.

Everything here runs in the collector, before the event is queued, so the full URL query,
the IP address and the User-Agent string never leave the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, final
from urllib.parse import parse_qsl, urlsplit

from crawleruseragents import is_crawler
from ua_parser import parse as parse_user_agent

from services.collector.referrers import known_referrer
from services.collector.storable import (
    LIMIT,
    UNSTORABLE_REASON,
    clamp,
    storable,
    strip_unstorable,
    too_long,
)

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@final  # intake tests `type(x) is Refused` (cheaper than a failed isinstance)
@dataclass(frozen=True, slots=True)
class Refused:
    """Why a value the client sent cannot be taken (intake answers 422 at its field)."""

    reason: str


NOT_A_URL = Refused("Expected an http(s) URL")


@dataclass(frozen=True, slots=True)
class PageUrl:
    host: str
    path: str
    utm: dict[str, str]  # shared by cache hits: read, never modified


# A site's traffic repeats its pages; parsing is per-event work. Positional arguments only:
# lru_cache builds a slower key for keyword ones.
@lru_cache(maxsize=8192)
def parse_page_url(url: str, hash_routing: bool) -> PageUrl | Refused:
    """Host, path and UTM fields of a page URL, each storable as it is (see storable.py);
    Refused when it is not an http(s) URL or one of them could not be stored.

    UTM values longer than their column are cut, as they always were: they come from a
    link someone else wrote, and refusing would lose the visitor's pageview. Everything is
    checked under the caches, so a repeated URL costs intake no check at all. A URL seen
    for the first time is looked up again by what decides its answer (`deciding_part`):
    ad clicks give most landing pages a query of their own (gclid, fbclid), and the parse
    is most of the cost of an event whose page is new."""
    return _parse_deciding(deciding_part(url, hash_routing), hash_routing)


def deciding_part(url: str, hash_routing: bool) -> str:
    """`url` less what cannot change parse_page_url's answer: the query's pairs whose key
    cannot name a UTM field and, without hash routing, the fragment. The URL as it is when
    a "#" comes before the "?"."""
    head, mark, rest = url.partition("?")
    if not mark or "#" in head:
        return url
    query, hash_mark, fragment = rest.partition("#")
    kept = "&".join(pair for pair in query.split("&") if _may_name_utm(pair.partition("=")[0]))
    return f"{head}?{kept}{hash_mark}{fragment}" if hash_routing else f"{head}?{kept}"


def _may_name_utm(key: str) -> bool:
    """A raw query key that may read utm_* once parsed: urlsplit drops tabs and line breaks
    anywhere, parse_qsl decodes percent-escapes, and the key is compared lower-cased."""
    return key.lower().startswith("utm_") or any(mark in key for mark in "%\t\r\n")


@lru_cache(maxsize=8192)
def _parse_deciding(url: str, hash_routing: bool) -> PageUrl | Refused:
    return parse_page_url_whole(url, hash_routing)


def parse_page_url_whole(url: str, hash_routing: bool) -> PageUrl | Refused:
    """parse_page_url's answer from the whole URL (the caches' source, and tests')."""
    try:  # urllib raises ValueError for an unclosed "[" or a netloc NFKC would change
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return NOT_A_URL
    if parts.scheme not in ("http", "https") or not host:
        return NOT_A_URL
    path = parts.path or "/"
    if hash_routing and parts.fragment.startswith("/"):
        path = parts.fragment.split("?", 1)[0]
    problem = too_long("host", host) or too_long("path", path)
    if problem:
        return Refused(f"{problem} in its host or path")
    if not (storable(host) and storable(path)):
        return Refused(UNSTORABLE_REASON)
    utm: dict[str, str] = {}
    if parts.query:
        for key, value in parse_qsl(parts.query, keep_blank_values=False):
            lowered = key.lower()
            if lowered in UTM_FIELDS and lowered not in utm:
                if not storable(value):
                    return Refused(f"{UNSTORABLE_REASON} in {lowered}")
                utm[lowered] = value[: LIMIT[lowered]]
    return PageUrl(host=host, path=path, utm=utm)


@dataclass(frozen=True, slots=True)
class Referral:
    url: str | None  # scheme://host/path, no query
    source: str
    medium: str


DIRECT = Referral(url=None, source="Direct", medium="direct")


@lru_cache(maxsize=4096)
def classify_referrer(referrer: str | None, page_host: str) -> Referral | Refused:
    """Source and medium of a referrer: search, social, email, ai, referral, internal, direct.

    What is not an http(s) URL counts as direct; Refused when the referrer holds characters
    no database stores. The derived url and source are cut to their columns. A referrer
    seen for the first time is looked up again without its query and fragment, which do
    not change the answer (links from social sites and webmail carry ids of their own)."""
    if referrer and storable(referrer):
        return _classify_deciding(referrer.partition("?")[0].partition("#")[0], page_host)
    return classify_referrer_whole(referrer, page_host)  # direct, or refused whole


@lru_cache(maxsize=4096)
def _classify_deciding(referrer: str, page_host: str) -> Referral | Refused:
    return classify_referrer_whole(referrer, page_host)


def classify_referrer_whole(referrer: str | None, page_host: str) -> Referral | Refused:
    """classify_referrer's answer from the whole referrer (the caches' source, and tests')."""
    if not referrer:
        return DIRECT
    if not storable(referrer):
        return Refused(UNSTORABLE_REASON)
    try:  # see parse_page_url
        parts = urlsplit(referrer)
        hostname = parts.hostname or ""
    except ValueError:
        return DIRECT
    host = hostname.removeprefix("www.")
    if parts.scheme not in ("http", "https") or not host:
        return DIRECT
    url = f"{parts.scheme}://{hostname}{parts.path}"[: LIMIT["referrer"]]
    if host == page_host.removeprefix("www."):
        return Referral(url=url, source="Internal", medium="internal")
    known = known_referrer(host.lower(), parts.path or "/")
    if known is not None:
        source, medium = known
        return Referral(url=url, source=clamp("source", source), medium=medium)
    return Referral(url=url, source=clamp("source", host), medium="referral")


@dataclass(frozen=True, slots=True)
class Device:
    is_bot: bool
    browser: str | None
    os: str | None
    device: str | None  # desktop, mobile, tablet
    browser_version: str | None = None  # major.minor
    os_version: str | None = None


def version(part: Any) -> str | None:
    """major.minor (or major) of a parsed browser or OS, None when it has no major."""
    major = getattr(part, "major", None) if part else None
    if not major:
        return None
    minor = getattr(part, "minor", None)
    return f"{major}.{minor}" if minor else str(major)


@lru_cache(maxsize=8192)
def classify_user_agent(user_agent: str) -> Device:
    """Browser family, OS family and device class; bots and crawlers flagged. UA not kept.

    The names are ua-parser's, often taken from the User-Agent itself (an app's name before
    "CFNetwork", say), so they are clamped to their columns (see storable.py). NUL and lone
    surrogates are dropped before parsing: the parser's regex engine cannot encode the
    latter (a header decoded as Latin-1 holds none, but a caller might pass one)."""
    user_agent = strip_unstorable(user_agent)
    if not user_agent or len(user_agent) > 1024 or is_crawler(user_agent):
        return Device(is_bot=True, browser=None, os=None, device=None)
    parsed = parse_user_agent(user_agent)
    device_family = parsed.device.family if parsed.device else ""
    if device_family == "Spider":
        return Device(is_bot=True, browser=None, os=None, device=None)
    browser = parsed.user_agent.family if parsed.user_agent else None
    os_family = parsed.os.family if parsed.os else None
    lowered = user_agent.lower()
    if (
        "ipad" in lowered
        or "tablet" in lowered
        or (os_family == "Android" and "mobile" not in lowered)
    ):
        device = "tablet"
    elif "mobi" in lowered or os_family in ("iOS", "Android"):
        device = "mobile"
    else:
        device = "desktop"
    return Device(
        is_bot=False,
        browser=clamp("browser", browser),
        os=clamp("os", os_family),
        device=device,  # one of three names of ours
        browser_version=clamp("browser_version", version(parsed.user_agent)),
        os_version=clamp("os_version", version(parsed.os)),
    )
