"""The settings and definition forms are parsers of what a browser sends: any fields are the
service's arguments or a FormError naming fields in sentences, never another exception."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.api.engagement.schemas import Definition
from services.api.web.reports.forms import choices_from_form, rule_from_form
from services.api.web.settings.forms import (
    FormError,
    destination_in,
    goal_in,
    segment_in,
    site_changes,
)
from services.api.web.views.forms import (
    NUMBERS,
    DefinitionFormError,
    definition_from_form,
    form_fields,
)

NAMES = [
    "timezone",
    "extra_hosts",
    "raw_retention_months",
    "rollup_retention_months",
    "k",
    "consent_required",
    "kind",
    "target",
    "name",
    "currency",
    "dimension",
    "op",
    "values",
    "url",
    "events",
    "cooldown_hours",
    "high_intent_pages",
    *NUMBERS,
]
fields = st.dictionaries(
    st.sampled_from(NAMES),
    st.one_of(
        st.text(max_size=80),
        st.integers(-5, 100).map(str),
        st.sampled_from(
            [
                "page",
                "event",
                "slack",
                "webhook",
                "on",
                "source",
                "is",
                "/pricing",
                "UTC",
                "https://example.com/hook",
                "contact.goal_completed",
                "EUR",
                "1.5",
                "nan",
                "1e999",
            ]
        ),
    ),
)


@pytest.mark.parametrize(
    "parse", [site_changes, goal_in, segment_in, destination_in, rule_from_form]
)
@given(sent=fields)
def test_any_form_is_the_services_arguments_or_sentences(
    parse: Callable[[dict[str, str]], Any], sent: dict[str, str]
) -> None:
    try:
        parse(sent)
        problems: dict[str, str] = {}
    except FormError as refused:
        problems = refused.problems
        assert problems
    assert all(text.endswith(".") for text in problems.values())


@given(sent=fields)
def test_any_definition_form_is_a_definition_or_sentences(sent: dict[str, str]) -> None:
    try:
        definition = definition_from_form(sent, Definition(version=0))
        problems: dict[str, str] = {}
    except DefinitionFormError as refused:
        problems = refused.problems
        assert problems
    else:
        assert definition.engaged_min_ms >= 0
    assert set(problems) <= {*NUMBERS, "high_intent_pages"}


def test_the_definition_form_shows_and_reads_back_a_version() -> None:
    current = Definition(version=3, engaged_min_ms=12_500, high_intent_pages=("/pricing*",), k=9)
    again = definition_from_form(form_fields(current), current)
    assert again.model_dump() == current.model_dump(exclude={"version", "created_at"})


def test_site_form_reads_as_overt_site_set_takes_it() -> None:
    wanted = site_changes(
        {
            "timezone": "Europe/Paris",
            "extra_hosts": "shop.example.com, blog.example.com\nwww.example.com",
            "raw_retention_months": "13",
            "rollup_retention_months": "",
            "k": "7",
            "consent_required": "on",
        }
    )
    assert wanted.timezone == "Europe/Paris"
    assert wanted.k == 7
    assert wanted.changes == {
        "extra_hosts": ("shop.example.com", "blog.example.com", "www.example.com"),
        "raw_retention_months": 13,
        "rollup_retention_months": None,
        "consent_required": True,
    }
    with pytest.raises(FormError) as refused:
        site_changes({"timezone": "UTC", "raw_retention_months": "x", "k": "60"})
    assert set(refused.value.problems) == {"raw_retention_months", "k"}


def test_a_slack_destination_keeps_its_cooldown_and_only_triggers() -> None:
    made = destination_in(
        {
            "kind": "slack",
            "url": "https://hooks.slack.com/services/T/B/x",
            "events": "contact.goal_completed,contact.withdrawn",
            "cooldown_hours": "6",
        }
    )
    assert (made.cooldown_hours, [e.value for e in made.events]) == (6, ["contact.goal_completed"])
    with pytest.raises(FormError, match="events"):
        destination_in({"kind": "webhook", "url": "https://example.com/h", "events": ""})


@given(sent=fields)
def test_report_choices_are_ticked_boxes_only(sent: dict[str, str]) -> None:
    chosen = choices_from_form(sent)
    assert chosen.weekly == (sent.get("weekly") == "on")
    assert chosen.alerts == (sent.get("alerts") == "on")
