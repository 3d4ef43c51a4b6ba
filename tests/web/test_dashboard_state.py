"""The dashboard's state is outside data (anyone can edit a URL): any query string is either
a state or a 400 problem, and a state survives the trip through its own query string."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from services.api.stats.schemas import PLAIN_DIMENSIONS, FilterNode, FilterOp
from services.api.web.dashboard.panels import PANELS
from services.api.web.dashboard.state import (
    COMPARISONS,
    CUSTOM,
    PRESETS,
    TILE_METRICS,
    BadDashboardState,
    DashboardState,
    Filter,
    filter_words,
    parse_state,
)

NAMES = st.sampled_from(
    ["period", "from", "to", "compare", "interval", "metric", "f", "tab", "prop", "imports", "x"]
)
CHARACTERS = st.characters(codec="utf-8")
TEXT = st.text(alphabet=CHARACTERS, max_size=40)
VALUES = st.one_of(
    TEXT,
    st.sampled_from([*PRESETS, CUSTOM, *COMPARISONS, "hour", "day", "week", "month", "1"]),
    st.sampled_from(TILE_METRICS),
    st.dates().map(str),
    st.builds(
        lambda op, dim, value: f"{op},{dim},{value}",
        st.sampled_from([*FilterOp, "nope"]),
        st.sampled_from([*PLAIN_DIMENSIONS, "prop:plan", "time:day", "segment", ""]),
        TEXT,
    ),
    st.sampled_from([tab.key for panel in PANELS for tab in panel.tabs]),
)

FILTERS = st.builds(
    Filter,
    dimension=st.sampled_from([d for d in PLAIN_DIMENSIONS] + ["prop:plan"]),
    op=st.sampled_from([FilterOp.is_, FilterOp.is_not, FilterOp.contains]),
    values=st.lists(st.text(alphabet=CHARACTERS, max_size=30), min_size=1, max_size=3).map(
        lambda values: tuple(dict.fromkeys(values))
    ),
)


@st.composite
def states(draw: st.DrawFn) -> DashboardState:
    period = draw(st.sampled_from([*PRESETS, CUSTOM]))
    first = last = None
    if period == CUSTOM:
        first = draw(st.dates(min_value=date(1970, 1, 1), max_value=date(2100, 1, 1)))
        last = draw(st.dates(min_value=first, max_value=date(first.year + 9, 1, 1)))
    state = DashboardState(
        period=period,
        first=first,
        last=last,
        compare=draw(st.sampled_from([None, *COMPARISONS])),
        interval=draw(st.sampled_from([None, "hour", "day", "week", "month"])),
        metric=draw(st.sampled_from(TILE_METRICS)),
        filters=tuple(
            {(f.dimension, f.op): f for f in draw(st.lists(FILTERS, max_size=3))}.values()
        ),
        prop=draw(st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True))),
        imports=draw(st.booleans()),
    )
    for panel in PANELS:
        state = state.with_tab(draw(st.sampled_from(panel.tabs)).key)
    return state


@given(states())
def test_a_state_survives_its_query_string(state: DashboardState) -> None:
    query = urlsplit("/app/sites/x" + state.query_string()).query
    assert parse_state(parse_qsl(query, keep_blank_values=True)) == state


@given(st.lists(st.tuples(NAMES, VALUES), max_size=8))
def test_any_query_string_is_a_state_or_a_clear_refusal(pairs: list[tuple[str, str]]) -> None:
    refused: BadDashboardState | None
    try:
        state = parse_state(pairs)
    except BadDashboardState as refusal:
        refused = refusal
    else:
        refused = None
    if refused is not None:
        assert refused.status == 400
        assert refused.detail
        return
    assert parse_state(state.params()) == state
    assert state.period in (*PRESETS, CUSTOM)
    assert state.metric in TILE_METRICS
    tree = state.filter_tree()
    assert (tree is None) == (not state.filters)


def test_defaults_and_words() -> None:
    assert parse_state([]) == DashboardState()
    assert DashboardState().query_string() == ""
    assert DashboardState().chart_interval() == "day"
    assert DashboardState(period="day").chart_interval() == "hour"
    assert DashboardState(period="12mo").chart_interval() == "month"
    state = parse_state([("f", "is,prop:plan,pro,max"), ("f", "is_not,country,DE")])
    assert [f.label() for f in state.filters] == ["prop:plan is pro,max", "country is not DE"]
    assert state.without_filter(0).filters == state.filters[1:]


def test_a_whole_filter_tree_reads_in_words() -> None:
    tree = TypeAdapter(FilterNode).validate_python(
        {
            "and": [
                {"dimension": "source", "op": "is", "values": ["Google", "Bing"]},
                {"not": {"dimension": "device", "op": "is", "values": ["mobile"]}},
                {
                    "or": [
                        {"dimension": "page", "op": "contains", "values": ["/docs"]},
                        {"has_done": {"dimension": "event", "op": "is", "values": ["Signup"]}},
                    ]
                },
                {"has_not_done": {"dimension": "page", "op": "matches", "values": ["^/x"]}},
            ]
        }
    )
    assert filter_words(tree) == (
        "source is Google or Bing and (not device is mobile)"
        " and (page contains /docs or (sessions that did event is Signup))"
        " and (sessions that never did page matches ^/x)"
    )


def test_conditions_take_several_values_and_a_segment_reads_by_its_name() -> None:
    pairs = [
        ("f", "is,country,DE"),
        ("f", "is_not,page,/a"),
        ("f", "is,country,FR"),
        ("f", "is_not,page,/b"),
        ("f", "is,country,DE"),
    ]
    state = parse_state(pairs)
    assert [f.label() for f in state.filters] == ["country is DE or FR", "page is not /a nor /b"]
    tree = state.filter_tree()
    assert tree is not None
    assert tree.model_dump(mode="json", by_alias=True, exclude_none=True) == {
        "and": [
            {"dimension": "country", "op": "is", "values": ["DE", "FR"]},
            {"dimension": "page", "op": "is_not", "values": ["/a", "/b"]},
        ]
    }
    assert state.params() == [
        ("f", "is,country,DE"),
        ("f", "is,country,FR"),
        ("f", "is_not,page,/a"),
        ("f", "is_not,page,/b"),
    ]
    read = state.with_segment("s1")
    assert read.segment_ids() == ("s1",)
    assert read.filters[-1].label({"s1": "Paid search"}) == "segment is Paid search"
    assert read.with_segment("s2").segment_ids() == ("s2",)
    assert read.with_segment(None) == state
    full = parse_state([("f", f"is,page,/{n}") for n in range(10)])
    assert full.with_filter(Filter("page", FilterOp.is_, ("/x",))) == full


@pytest.mark.parametrize(
    ("pairs", "words"),
    [
        ([("period", "week")], "period: one of"),
        ([("period", "custom"), ("from", "2026-01-02")], "period custom needs to="),
        ([("period", "custom"), ("from", "2026-01-02"), ("to", "2026-01-01")], "before the first"),
        ([("f", "is,colour,red")], "f: "),
        ([("f", "equals,country,DE")], "unknown operator"),
        ([("f", "matches,page,(")], "f: "),
        ([("tab", "channel"), ("tab", "utm_campaign")], "one per panel"),
        ([("compare", "x"), ("compare", "y")], "at most once"),
        ([("prop", "a b")], "prop: a property name"),
        ([("imports", "yes")], "imports: 1, or absent"),
    ],
)
def test_refusals_say_what_is_wrong(pairs: list[tuple[str, str]], words: str) -> None:
    with pytest.raises(BadDashboardState) as refused:
        parse_state(pairs)
    assert words in (refused.value.detail or "")
