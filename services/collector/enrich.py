"""Enrichment without keeping personal data: URL, referrer, campaign and device fields.

Everything here runs in the collector, before the event is queued, so the full URL query,
the IP address and the User-Agent string never leave the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

from crawleruseragents import is_crawler
from referer_parser import Referer
from ua_parser import parse as parse_user_agent

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# Hosts newer than referer-parser's data set (it stops in 2016), by medium.
EXTRA_REFERRERS = {
    "x.com": ("X", "social"),
    "threads.net": ("Threads", "social"),
    "bsky.app": ("Bluesky", "social"),
    "mastodon.social": ("Mastodon", "social"),
    "chatgpt.com": ("ChatGPT", "ai"),
    "chat.openai.com": ("ChatGPT", "ai"),
    "perplexity.ai": ("Perplexity", "ai"),
    "claude.ai": ("Claude", "ai"),
    "gemini.google.com": ("Gemini", "ai"),
    "copilot.microsoft.com": ("Copilot", "ai"),
}
MEDIUM_NAMES = {"search": "search", "social": "social", "email": "email", "paid": "paid"}


@dataclass(frozen=True, slots=True)
class PageUrl:
    host: str
    path: str
    utm: dict[str, str]  # shared by cache hits: read, never modified


# A site's traffic repeats its pages; parsing is per-event work. Positional arguments only:
# lru_cache builds a slower key for keyword ones.
@lru_cache(maxsize=8192)
def parse_page_url(url: str, hash_routing: bool) -> PageUrl | None:
    """Host, path and UTM fields of a page URL; None when it is not http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    path = parts.path or "/"
    if hash_routing and parts.fragment.startswith("/"):
        path = parts.fragment.split("?", 1)[0]
    utm: dict[str, str] = {}
    if parts.query:
        for key, value in parse_qsl(parts.query, keep_blank_values=False):
            lowered = key.lower()
            if lowered in UTM_FIELDS and lowered not in utm:
                utm[lowered] = value[:256]
    return PageUrl(host=parts.hostname, path=path[:2048], utm=utm)


@dataclass(frozen=True, slots=True)
class Referral:
    url: str | None  # scheme://host/path, no query
    source: str
    medium: str


DIRECT = Referral(url=None, source="Direct", medium="direct")


@lru_cache(maxsize=4096)
def classify_referrer(referrer: str | None, page_host: str) -> Referral:
    """Source and medium of a referrer: search, social, email, ai, referral, internal, direct."""
    if not referrer:
        return DIRECT
    parts = urlsplit(referrer)
    host = (parts.hostname or "").removeprefix("www.")
    if parts.scheme not in ("http", "https") or not host:
        return DIRECT
    url = f"{parts.scheme}://{parts.hostname}{parts.path}"[:2048]
    if host == page_host.removeprefix("www."):
        return Referral(url=url, source="Internal", medium="internal")
    for candidate in (host, host.split(".", 1)[-1]):
        if candidate in EXTRA_REFERRERS:
            source, medium = EXTRA_REFERRERS[candidate]
            return Referral(url=url, source=source, medium=medium)
    known = Referer(referrer)
    if known.known and known.referer:
        return Referral(
            url=url,
            source=str(known.referer)[:120],
            medium=MEDIUM_NAMES.get(str(known.medium), "referral"),
        )
    return Referral(url=url, source=host[:120], medium="referral")


@dataclass(frozen=True, slots=True)
class Device:
    is_bot: bool
    browser: str | None
    os: str | None
    device: str | None  # desktop, mobile, tablet


@lru_cache(maxsize=8192)
def classify_user_agent(user_agent: str) -> Device:
    """Browser family, OS family and device class; bots and crawlers flagged. UA not kept."""
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
    return Device(is_bot=False, browser=browser, os=os_family, device=device)
