"""Goal definitions are outside data: any page pattern becomes a regular expression that
RE2 accepts and that matches exactly what Plausible's wildcards say (`*` within a segment,
`**` across), and any goal body is either accepted or refused as a validation error."""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.api.goals.schemas import GoalIn
from services.api.goals.service import name_passes, page_regex
from shared.dialect import compile_regex

# Wildcards, separators and every character a regular expression treats specially.
ALPHABET = st.sampled_from(list("*/ab.\\^$|?+()[]{}-_é\n"))


def reference(pattern: str, path: str) -> bool:
    """Plausible's wildcards, by hand: the meaning page_regex must keep."""

    @cache
    def match(p: int, s: int) -> bool:
        if p == len(pattern):
            return s == len(path)
        if pattern.startswith("**", p):
            return any(match(p + 2, end) for end in range(s, len(path) + 1))
        if pattern[p] == "*":
            ends = range(s, len(path) + 1)
            return any(match(p + 1, end) for end in ends if "/" not in path[s:end])
        return s < len(path) and path[s] == pattern[p] and match(p + 1, s + 1)

    return match(0, 0)


@given(pattern=st.text(ALPHABET, max_size=12), path=st.text(ALPHABET, max_size=12))
def test_page_patterns_match_as_the_wildcards_say(pattern: str, path: str) -> None:
    compiled = compile_regex(page_regex(pattern))
    assert (compiled.search(path) is not None) is reference(pattern, path)


@given(pattern=st.text(ALPHABET, max_size=12))
def test_a_pattern_matches_itself_when_it_has_no_wildcards(pattern: str) -> None:
    plain = pattern.replace("*", "")
    assert compile_regex(page_regex(plain)).search(plain) is not None


@given(
    body=st.dictionaries(
        st.sampled_from(["name", "page", "event", "props", "currency", "other"]),
        st.one_of(
            st.text(max_size=300),
            st.none(),
            st.integers(),
            st.dictionaries(st.text(max_size=70), st.text(max_size=300), max_size=12),
        ),
        max_size=5,
    )
)
def test_any_goal_body_is_accepted_or_refused_cleanly(body: dict[str, object]) -> None:
    try:
        goal = GoalIn.model_validate(body)
    except ValidationError:
        return
    assert (goal.page is None) != (goal.event is None)
    assert goal.currency is None or (len(goal.currency) == 3 and goal.currency.isupper())
    assert 1 <= len(goal.display_name()) <= 300


@pytest.mark.parametrize(
    ("op", "values", "expected"),
    [
        ("is", ["Signup"], True),
        ("is", ["signup"], False),
        ("contains", ["SIGN"], True),
        ("matches", ["^Sign"], True),
        ("matches", ["up$x"], False),
    ],
)
def test_goal_names_pass_filters_as_text_does(op: str, values: list[str], expected: bool) -> None:
    assert name_passes("Signup", op, values) is expected
