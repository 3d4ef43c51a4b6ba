"""Where k-anonymity applies: the one place that says which dimensions single a person out.

Small groups leak identity through the attributes that, combined, point at one person:
where (country, region, city), which device (device, browser, OS and their versions),
where from (referrer, source, medium, UTM fields, custom props). Those are the
quasi-identifiers: a breakdown by one folds groups under k into "(other)", and a query
that touches one (in its dimensions or its filters) has its filters held to k.

What a site's own visitors did on its own pages is not such an attribute: its totals, its
time series and its page / entry / exit page / goal / hostname / event-name breakdowns are
answered whole, whatever their size.

Unknown dimensions count as quasi-identifiers (fail closed): a dimension added later is
guarded until it is named here as answered whole.

Which visitors count toward k: only those with engagement (`counts_toward_k` in query.py):
anyone can send bare hits through the anonymous /e, and k-1 of them around one real
visitor would otherwise make a group of k whose numbers are that visitor's.
"""

from __future__ import annotations

from collections.abc import Iterable

# Dimensions answered whole: the site's own pages, goals and events, and time.
ANSWERED_WHOLE = frozenset({"page", "entry_page", "exit_page", "goal", "hostname", "event"})
TIME_PREFIX = "time:"

# The quasi-identifiers known today (for documentation and tests; the rule is
# `is_quasi_identifier`, which also guards every prop:* and any dimension not listed above).
QUASI_IDENTIFIERS = frozenset(
    {
        # where
        "country",
        "region",
        "city",
        # which device
        "device",
        "browser",
        "browser_version",
        "os",
        "os_version",
        # where from (the session's attribution and the event's own UTM fields)
        "referrer",
        "source",
        "medium",
        "channel",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
    }
)


def is_quasi_identifier(dimension: str) -> bool:
    """Whether breaking down or filtering by `dimension` can single a person out."""
    if dimension.startswith(TIME_PREFIX):
        return False
    return dimension not in ANSWERED_WHOLE


def quasi_identifiers(dimensions: Iterable[str]) -> list[str]:
    """The quasi-identifiers among `dimensions`, in order, each once."""
    return list(dict.fromkeys(d for d in dimensions if is_quasi_identifier(d)))
