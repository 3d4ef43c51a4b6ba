"""The pure rules behind the Plausible-named parts of /v1/query: relative date ranges,
acquisition channels, comparisons; and the new query inputs parsed as hostile input."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.api.days import check_date_range, relative_days, year_earlier
from services.api.stats.channels import CHANNELS, channel_of, inputs_of
from services.api.stats.comparisons import bucket_index, change, comparison_days
from services.api.stats.schemas import Comparison, Metric, QueryIn
from tests.helpers.overt import Overt
from tests.helpers.traffic import ask

TODAY = date(2026, 12, 6)


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("day", "2026-12-06", "2026-12-06"),
        ("7d", "2026-11-30", "2026-12-06"),
        ("28d", "2026-11-09", "2026-12-06"),
        ("30d", "2026-11-07", "2026-12-06"),
        ("month", "2026-12-01", "2026-12-31"),
        ("6mo", "2026-07-01", "2026-12-31"),
        ("12mo", "2026-01-01", "2026-12-31"),
        ("year", "2026-01-01", "2026-12-31"),
        ("all", "2025-03-04", "2026-12-06"),
    ],
)
def test_relative_ranges(name: str, first: str, last: str) -> None:
    days = relative_days(name, today=TODAY, first_day=date(2025, 3, 4))
    assert days == (date.fromisoformat(first), date.fromisoformat(last))


def test_relative_ranges_across_a_year_and_without_data() -> None:
    assert relative_days("6mo", today=date(2026, 2, 10), first_day=None) == (
        date(2025, 9, 1),
        date(2026, 2, 28),
    )
    assert relative_days("all", today=TODAY, first_day=None) == (TODAY, TODAY)
    assert year_earlier(date(2028, 2, 29)) == date(2027, 2, 28)


# (source, medium, utm_source, utm_medium, utm_campaign) -> channel
CHANNEL_TABLE = [
    (("Direct", "direct", None, None, None), "Direct"),
    (("Internal", "internal", None, None, None), "Direct"),
    (("Google", "search", None, None, None), "Organic Search"),
    (("DuckDuckGo", "search", None, None, None), "Organic Search"),
    (("Facebook", "social", None, None, None), "Organic Social"),
    (("YouTube", "social", None, None, None), "Organic Social"),
    (("youtube.com", "referral", None, None, None), "Organic Video"),
    (("news.example.org", "referral", None, None, None), "Referral"),
    (("ChatGPT", "ai", None, None, None), "Referral"),
    (("Gmail", "email", None, None, None), "Email"),
    (("google", "campaign", "google", "cpc", None), "Paid Search"),
    (("Google", "search", "google", "CPC", "spring"), "Paid Search"),
    (("fb", "campaign", "fb", "paid_social", None), "Paid Social"),
    (("youtube", "campaign", "youtube", "cpv", None), "Paid Video"),
    (("amazon", "campaign", "amazon", "ppc", None), "Paid Shopping"),
    (("x", "campaign", "x", "cpc", "Summer Shop"), "Paid Shopping"),
    (("acme", "campaign", "acme", "banner", None), "Display"),
    (("acme", "campaign", "acme", "cpm", None), "Display"),  # display is tested first
    (("acme", "campaign", "acme", "retargeting", None), "Paid Other"),
    (("a", "campaign", "a", "x", "cross-network q3"), "Cross-network"),
    (("etsy", "campaign", "etsy", None, None), "Organic Shopping"),
    (("newsletter", "campaign", "newsletter", None, None), "Email"),
    (("crm", "campaign", "crm", "e-mail", None), "Email"),
    (("partner", "campaign", "partner", "affiliate", None), "Affiliates"),
    (("show", "campaign", "show", "podcast", None), "Audio"),
    (("sms", "campaign", "sms", None, None), "SMS"),
    (("app", "campaign", "app", "web-push", None), "Mobile Push Notifications"),
    (("firebase", "campaign", "firebase", None, None), "Mobile Push Notifications"),
    (("spring", "campaign", "spring", None, None), "Unassigned"),
]


@pytest.mark.parametrize(("fields", "channel"), CHANNEL_TABLE)
def test_channel_table(fields: tuple[str | None, ...], channel: str) -> None:
    source, medium, utm_source, utm_medium, utm_campaign = fields
    inputs = inputs_of(
        source=source,
        medium=medium,
        utm_source=utm_source,
        utm_medium=utm_medium,
        utm_campaign=utm_campaign,
    )
    assert channel_of(inputs) == channel


maybe_text = st.one_of(st.none(), st.text(max_size=30))


@given(maybe_text, maybe_text, maybe_text, maybe_text, maybe_text)
def test_any_session_has_one_known_channel_whatever_its_case(
    source: str | None,
    medium: str | None,
    utm_source: str | None,
    utm_medium: str | None,
    utm_campaign: str | None,
) -> None:
    fields = {
        "source": source,
        "medium": medium,
        "utm_source": utm_source,
        "utm_medium": utm_medium,
        "utm_campaign": utm_campaign,
    }
    channel = channel_of(inputs_of(**fields))
    assert channel in CHANNELS
    upper = {k: v.upper() if v is not None and v.isascii() else v for k, v in fields.items()}
    assert channel_of(inputs_of(**upper)) == channel


@pytest.mark.parametrize(
    ("metric", "now", "before", "expected"),
    [
        (Metric.visitors, 15, 10, 50),
        (Metric.visitors, 5, 10, -50),
        (Metric.visitors, 3, 0, 100),
        (Metric.visitors, 0, 0, 0),
        (Metric.bounce_rate, 40, 55, -15),
        (Metric.percentage, 12.5, 10.0, 2.5),
        (Metric.visit_duration, None, 10, None),
    ],
)
def test_change(metric: Metric, now: float | None, before: float | None, expected: Any) -> None:
    assert change(metric, now, before) == expected


def test_comparison_days_and_bucket_places() -> None:
    week = (date(2026, 11, 30), date(2026, 12, 6))
    assert comparison_days(week, Comparison(mode="previous_period")) == (
        date(2026, 11, 23),
        date(2026, 11, 29),
    )
    assert comparison_days(week, Comparison(mode="year_over_year")) == (
        date(2025, 11, 30),
        date(2025, 12, 6),
    )
    first = date(2026, 11, 30)
    assert bucket_index("2026-12-02", "day", first) == 2
    assert bucket_index("2026-12-07", "week", first) == 1
    assert bucket_index("2027-01", "month", first) == 2
    assert bucket_index("2026-12-01T03:00", "hour", first) == 27


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12))
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)
ranges = st.one_of(
    st.sampled_from(["day", "7d", "28d", "30d", "month", "6mo", "12mo", "year", "all", "3d"]),
    json_value,
)


@given(ranges, st.one_of(st.none(), json_value))
def test_date_ranges_and_comparisons_parse_or_refuse(date_range: Any, comparisons: Any) -> None:
    """Whatever arrives: a QueryIn whose days resolve within the storable range, or a
    ValidationError (a 422), never another exception."""
    body = {"site_id": "s", "metrics": ["visitors"], "date_range": date_range}
    if comparisons is not None:
        body["comparisons"] = comparisons
    try:
        query = QueryIn.model_validate(body)
    except ValidationError:
        return
    if isinstance(query.date_range, str):
        check_date_range(*relative_days(query.date_range, today=TODAY, first_day=None))
    if query.comparisons is not None:
        check_date_range(*comparison_days((TODAY, TODAY), query.comparisons))


OPS = st.sampled_from(["is", "is_not", "contains", "contains_not", "matches", "matches_not"])
DIMS = st.sampled_from(["page", "event", "hostname", "channel", "browser_version", "prop:n"])
condition = st.fixed_dictionaries(
    {"dimension": DIMS, "op": OPS, "values": st.lists(st.text(max_size=8), max_size=2)}
)
trees = st.recursive(
    st.one_of(condition, json_value),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"has_done": inner}),
        st.fixed_dictionaries({"has_not_done": inner}),
        st.fixed_dictionaries({"not": inner}),
        st.fixed_dictionaries({"and": st.lists(inner, max_size=3)}),
    ),
    max_leaves=5,
)


@pytest.mark.anyio
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(filters=trees)
async def test_any_filter_tree_is_answered_or_refused_never_a_500(
    overt: Overt, filters: Any
) -> None:
    response = await ask(
        overt, metrics=["visitors", "bounce_rate"], dimensions=["channel"], filters=filters
    )
    assert response.status_code in (200, 422), response.text
    assert response.headers["content-type"] in ("application/json", "application/problem+json")
