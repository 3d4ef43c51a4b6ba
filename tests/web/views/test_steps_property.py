"""Funnel steps as the owner types them: any text is a funnel or a StepsError, never a crash;
the form's own text reads back to the same steps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.api.stats.schemas import FunnelStep
from services.api.web.views.service import MAX_STEPS, StepsError, parse_steps, steps_text

page = st.from_regex(r"\A/[A-Za-z0-9_./*?-]{0,40}\Z")
goal = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9 _-]{0,30}[A-Za-z0-9]\Z")
step = st.one_of(page.map(lambda p: FunnelStep(page=p)), goal.map(lambda g: FunnelStep(goal=g)))


@given(st.text(max_size=400))
def test_any_text_is_a_funnel_or_a_sentence(text: str) -> None:
    try:
        steps = parse_steps(text)
    except StepsError as refused:
        reason = str(refused)
        steps = []
    else:
        reason = ""
    assert reason.endswith(".") or 2 <= len(steps) <= MAX_STEPS
    assert all((s.page is None) != (s.goal is None) for s in steps)


@given(st.lists(step, min_size=2, max_size=MAX_STEPS))
def test_the_forms_text_reads_back_to_the_same_steps(steps: list[FunnelStep]) -> None:
    goals_spaced = [
        FunnelStep(goal=" ".join(s.goal.split())) if s.goal is not None else s for s in steps
    ]
    assert parse_steps(steps_text(goals_spaced)) == goals_spaced


def test_a_bad_line_is_named() -> None:
    with pytest.raises(StepsError, match="Line 2"):
        parse_steps("/\npricing")
