"""The intent rules in the engagement page, over HTTP on both backends: an owner or admin
lists, adds, changes and removes them (each change a new definition version, what the intent
webhooks and Slack alerts read), refusals are shown beside their field, the form needs its
token, and a viewer reads the rules but cannot change them."""

from __future__ import annotations

import re

import pytest

from services.api.engagement.schemas import GoalRule, PageRepeatRule
from services.api.engagement.service import current_definition
from tests.helpers.overt import Overt
from tests.helpers.web import csrf_of, member, sign_in

pytestmark = pytest.mark.anyio


async def as_role(overt: Overt, role: str) -> None:
    await member(overt.resources.engine, f"{role}@example.com", overt.site.id, role=role)
    assert (await sign_in(overt.client, f"{role}@example.com")).status_code == 303


async def test_an_admin_adds_changes_and_removes_intent_rules(overt: Overt) -> None:
    engine, site = overt.resources.engine, overt.site.id
    page_path = f"/app/sites/{site}/views/engagement"
    rules = f"{page_path}/intent-rules"
    await as_role(overt, "admin")
    page = await overt.client.get(page_path)
    assert "No intent rules yet" in page.text
    token = csrf_of(page.text)
    pricing = {"kind": "page_repeat", "name": "pricing twice", "pattern": "/pricing*"}
    pricing |= {"min_visits": "2", "within_days": "7", "version": "0"}

    assert (await overt.client.post(rules, data=pricing)).status_code == 403  # no token
    refused = await overt.client.post(
        rules, data={**pricing, "pattern": "pricing", "min_visits": "1.5", "csrf_token": token}
    )
    assert refused.status_code == 422
    assert re.search(r'id="rule-min_visits-problem">Enter a whole number\.<', refused.text)
    assert re.search(r'id="rule-pattern-problem">String should match pattern', refused.text)
    assert 'value="pricing"' in refused.text  # what was typed stays in the form
    assert (await current_definition(engine, site)).version == 0

    added = await overt.client.post(rules, data={**pricing, "csrf_token": token})
    assert added.status_code == 303
    goal = {"kind": "goal", "name": "signed up", "goal": "Signup", "min_count": "1"}
    added = await overt.client.post(rules, data={**goal, "version": "1", "csrf_token": token})
    assert added.status_code == 303
    definition = await current_definition(engine, site)
    assert definition.version == 2
    assert definition.intent_rules == (
        PageRepeatRule(name="pricing twice", pattern="/pricing*", min_visits=2, within_days=7),
        GoalRule(name="signed up", goal="Signup", min_count=1),
    )
    listed = (await overt.client.get(added.headers["location"])).text
    assert "pages matching /pricing* viewed 2 times within 7 days" in listed
    assert "the goal Signup reached 1 times" in listed

    # The edit link fills the form with the rule; a taken name is refused in words.
    editing = (await overt.client.get(f"{page_path}?rule=0")).text
    assert "Change rule pricing twice" in editing
    assert 'name="pattern" type="text" value="/pricing*"' in editing
    changed = {**pricing, "index": "0", "version": "2", "csrf_token": token}
    taken = await overt.client.post(rules, data={**changed, "name": "signed up"})
    assert taken.status_code == 422
    assert "Another rule has this name" in taken.text
    stored = await overt.client.post(rules, data={**changed, "min_visits": "3"})
    assert stored.status_code == 303
    definition = await current_definition(engine, site)
    assert definition.version == 3
    assert definition.intent_rules[0].min_visits == 3  # type: ignore[union-attr]

    # A form from an older version is not applied to whatever rule now has its place.
    stale = await overt.client.post(f"{rules}/0/delete", data={"version": "2", "csrf_token": token})
    assert stale.status_code == 422
    assert "The definition changed since this page was shown" in stale.text
    removed = await overt.client.post(
        f"{rules}/0/delete", data={"version": "3", "csrf_token": token}
    )
    assert removed.status_code == 303
    definition = await current_definition(engine, site)
    assert (definition.version, [r.name for r in definition.intent_rules]) == (4, ["signed up"])
    assert definition.intent_threshold == 30.0  # the rest of the definition carried over


async def test_a_viewer_reads_the_rules_and_cannot_change_them(overt: Overt) -> None:
    page_path = f"/app/sites/{overt.site.id}/views/engagement"
    await as_role(overt, "viewer")
    page = await overt.client.get(page_path)
    assert "can read the rules; admins and owners can change them" in page.text
    assert "Add the rule" not in page.text
    form = {"csrf_token": csrf_of(page.text), "kind": "goal", "name": "x", "goal": "Signup"}
    answer = await overt.client.post(f"{page_path}/intent-rules", data={**form, "version": "0"})
    assert answer.status_code == 403  # a member below the role: told which role
    answer = await overt.client.post(f"{page_path}/intent-rules/0/delete", data=form)
    assert answer.status_code == 403
    assert (await current_definition(overt.resources.engine, overt.site.id)).version == 0
