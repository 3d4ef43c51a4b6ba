"""Acquisition channels: a session's source, medium and campaign grouped as GA4's default
channel group does (and Plausible after it), from one table of rules.

The rules are data (`RULES`): the first whose tests hold names the channel, else
"Unassigned". Two readers share them, so they cannot drift apart: `channel_of` (a pure
function, tested against a table of cases) and `channel_expression` (the same rules as one
SQL CASE over the `events` row, which the query engine groups and filters by).

Their inputs are what Overt stores for a session: the UTM fields when the landing URL had
them, else the source and medium derived from the referrer (enrich.py: search, social,
email, ai, referral, internal, direct). `inputs_of` maps those onto GA4's vocabulary
(an organic search referrer is medium "organic", no referrer is source "(direct)" medium
"(none)", an AI assistant's link a referral) before the rules read them, lowercased.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, func, literal, or_

from shared.models import events

Field = Literal["source", "medium", "campaign"]
Kind = Literal["is", "contains", "starts", "ends"]


@dataclass(frozen=True, slots=True)
class Test:
    """One test on a lowercased input: equal to, containing, starting or ending with any of
    `values`."""

    field: Field
    kind: Kind
    values: tuple[str, ...]


SEARCH_SOURCES = (
    "google", "bing", "duckduckgo", "yahoo!", "yahoo", "baidu", "yandex", "ecosia", "brave",
    "qwant", "startpage", "naver", "seznam", "ask", "aol", "kagi", "sogou", "daum",
    "google.com", "bing.com", "duckduckgo.com", "search.yahoo.com", "yandex.ru", "baidu.com",
    "ecosia.org", "search.brave.com", "qwant.com", "startpage.com", "kagi.com",
)  # fmt: skip
SOCIAL_SOURCES = (
    "facebook", "instagram", "twitter", "x", "linkedin", "reddit", "pinterest", "tiktok",
    "threads", "bluesky", "mastodon", "snapchat", "tumblr", "vkontakte", "vk", "quora",
    "discord", "whatsapp", "telegram", "hacker news", "news.ycombinator.com", "t.co",
    "lnkd.in", "fb", "ig", "facebook.com", "m.facebook.com", "l.facebook.com",
    "instagram.com", "twitter.com", "x.com", "linkedin.com", "reddit.com", "pinterest.com",
    "tiktok.com", "threads.net", "bsky.app", "mastodon.social",
)  # fmt: skip
VIDEO_SOURCES = (
    "youtube", "vimeo", "twitch", "dailymotion", "wistia", "youtube.com", "m.youtube.com",
    "vimeo.com", "twitch.tv",
)  # fmt: skip
SHOPPING_SOURCES = (
    "amazon", "ebay", "etsy", "shopify", "walmart", "aliexpress", "google shopping",
    "amazon.com", "ebay.com", "etsy.com", "shopping.google.com",
)  # fmt: skip
PAID = (
    Test("medium", "contains", ("cp",)),  # cpc, cpm, cpv, cpa...
    Test("medium", "is", ("ppc", "retargeting")),
    Test("medium", "starts", ("paid",)),
)
SHOPPING_CAMPAIGN = Test("campaign", "contains", ("shop",))
SOCIAL_MEDIUMS = (
    "social", "social-network", "social-media", "sm", "social network", "social media",
)  # fmt: skip
EMAIL = ("email", "e-mail", "e_mail", "e mail", "newsletter")

# (channel, any of these groups, each group: all of its tests); GA4's order of evaluation.
RULES: tuple[tuple[str, tuple[tuple[Test, ...], ...]], ...] = (
    (
        "Direct",
        (
            (
                Test("source", "is", ("(direct)", "")),
                Test("medium", "is", ("(none)", "(not set)", "")),
            ),
        ),
    ),
    ("Cross-network", ((Test("campaign", "contains", ("cross-network",)),),)),
    (
        "Paid Shopping",
        tuple(
            (shopping, paid)
            for shopping in (Test("source", "is", SHOPPING_SOURCES), SHOPPING_CAMPAIGN)
            for paid in PAID
        ),
    ),
    ("Paid Search", tuple((Test("source", "is", SEARCH_SOURCES), paid) for paid in PAID)),
    ("Paid Social", tuple((Test("source", "is", SOCIAL_SOURCES), paid) for paid in PAID)),
    ("Paid Video", tuple((Test("source", "is", VIDEO_SOURCES), paid) for paid in PAID)),
    (
        "Display",
        ((Test("medium", "is", ("display", "banner", "expandable", "interstitial", "cpm")),),),
    ),
    ("Paid Other", tuple((paid,) for paid in PAID)),
    ("Organic Shopping", ((Test("source", "is", SHOPPING_SOURCES),), (SHOPPING_CAMPAIGN,))),
    (
        "Organic Social",
        ((Test("source", "is", SOCIAL_SOURCES),), (Test("medium", "is", SOCIAL_MEDIUMS),)),
    ),
    (
        "Organic Video",
        ((Test("source", "is", VIDEO_SOURCES),), (Test("medium", "contains", ("video",)),)),
    ),
    (
        "Organic Search",
        ((Test("source", "is", SEARCH_SOURCES),), (Test("medium", "is", ("organic",)),)),
    ),
    ("Referral", ((Test("medium", "is", ("referral", "app", "link")),),)),
    ("Email", ((Test("source", "is", EMAIL),), (Test("medium", "is", EMAIL),))),
    ("Affiliates", ((Test("medium", "is", ("affiliate", "affiliates")),),)),
    ("Audio", ((Test("medium", "is", ("audio", "podcast")),),)),
    ("SMS", ((Test("source", "is", ("sms",)),), (Test("medium", "is", ("sms",)),))),
    (
        "Mobile Push Notifications",
        (
            (Test("medium", "ends", ("push",)),),
            (Test("medium", "contains", ("mobile", "notification")),),
            (Test("source", "is", ("firebase",)),),
        ),
    ),
)
UNASSIGNED = "Unassigned"
CHANNELS = (*(name for name, _ in RULES), UNASSIGNED)

# Overt's referrer mediums (enrich.py) in GA4's words, when the URL named no utm_medium.
OVERT_MEDIUMS = {
    "search": "organic",
    "direct": "(none)",
    "internal": "(none)",
    "campaign": "(not set)",
    "ai": "referral",
}
# Overt's sources for no referrer (or one from the site itself), in GA4's words.
OVERT_DIRECT_SOURCES = {"direct": "(direct)", "internal": "(direct)"}


def inputs_of(
    *,
    source: str | None,
    medium: str | None,
    utm_source: str | None,
    utm_medium: str | None,
    utm_campaign: str | None,
) -> dict[Field, str]:
    """The rules' inputs for one session, lowercased (see the module's docstring)."""
    if utm_source is not None:
        effective_source = utm_source.lower()
    else:
        lowered = (source or "").lower()
        effective_source = OVERT_DIRECT_SOURCES.get(lowered, lowered)
    if utm_medium is not None:
        effective_medium = utm_medium.lower()
    else:
        lowered = (medium or "").lower()
        effective_medium = OVERT_MEDIUMS.get(lowered, lowered or "(none)")
    return {
        "source": effective_source,
        "medium": effective_medium,
        "campaign": (utm_campaign or "").lower(),
    }


def _holds(test: Test, value: str) -> bool:
    if test.kind == "is":
        return value in test.values
    if test.kind == "contains":
        return any(v in value for v in test.values)
    if test.kind == "starts":
        return value.startswith(test.values)
    return value.endswith(test.values)


def channel_of(inputs: dict[Field, str]) -> str:
    """The channel of a session's inputs (`inputs_of`): the first rule that holds."""
    for channel, groups in RULES:
        if any(all(_holds(test, inputs[test.field]) for test in group) for group in groups):
            return channel
    return UNASSIGNED


def _sql_inputs() -> dict[Field, ColumnElement[str]]:
    """`inputs_of` over an `events` row's session columns."""
    source = case(
        (events.c.session_utm_source.is_not(None), func.lower(events.c.session_utm_source)),
        *(
            (func.lower(events.c.session_source) == overt, literal(ga4))
            for overt, ga4 in OVERT_DIRECT_SOURCES.items()
        ),
        else_=func.lower(func.coalesce(events.c.session_source, literal(""))),
    )
    medium = case(
        (events.c.session_utm_medium.is_not(None), func.lower(events.c.session_utm_medium)),
        *(
            (func.lower(events.c.session_medium) == overt, literal(ga4))
            for overt, ga4 in OVERT_MEDIUMS.items()
        ),
        (func.coalesce(events.c.session_medium, literal("")) == "", literal("(none)")),
        else_=func.lower(events.c.session_medium),
    )
    campaign = func.lower(func.coalesce(events.c.session_utm_campaign, literal("")))
    return {"source": source, "medium": medium, "campaign": campaign}


def _sql_test(test: Test, value: ColumnElement[str]) -> ColumnElement[bool]:
    if test.kind == "is":
        return value.in_(test.values)
    if test.kind == "contains":
        return or_(*(value.contains(v, autoescape=True) for v in test.values))
    if test.kind == "starts":
        return or_(*(value.startswith(v, autoescape=True) for v in test.values))
    return or_(*(value.endswith(v, autoescape=True) for v in test.values))


def channel_expression() -> ColumnElement[Any]:
    """The channel of an `events` row's session, in SQL (NULL for an event without one)."""
    inputs = _sql_inputs()
    whens = [
        (
            or_(*(and_(*(_sql_test(t, inputs[t.field]) for t in group)) for group in groups)),
            literal(channel),
        )
        for channel, groups in RULES
    ]
    return case(
        (events.c.session_id.is_(None), literal(None)),
        *whens,
        else_=literal(UNASSIGNED),
    )
