"""Settings pages over HTTP, on both backends: admins only (a viewer gets 403 for every page
and form), every form refused without its token, and each change stored by the same service
the API and `overt site set` use."""

from __future__ import annotations

import re

import pytest

from services.api.engagement.service import current_definition
from services.api.goals.service import list_goals
from services.api.people.webhooks import list_subscriptions
from services.api.stats.segments import list_segments
from shared.sites import get_site
from tests.helpers.overt import Overt
from tests.helpers.web import csrf_of, member, sign_in

pytestmark = pytest.mark.anyio

FORMS = ("site", "goals", "segments", "destinations", "goals/x/delete", "segments/x/delete")


async def as_role(overt: Overt, role: str) -> str:
    """Signed in with `role`; the CSRF token of this browser."""
    await member(overt.resources.engine, f"{role}@example.com", overt.site.id, role=role)
    assert (await sign_in(overt.client, f"{role}@example.com")).status_code == 303
    return csrf_of((await overt.client.get("/app/")).text)


def settings(overt: Overt, tail: str = "") -> str:
    return f"/app/sites/{overt.site.id}/settings" + (f"/{tail}" if tail else "")


async def test_a_viewer_cannot_reach_settings(overt: Overt) -> None:
    token = await as_role(overt, "viewer")
    assert (await overt.client.get(settings(overt))).status_code == 403
    for form in FORMS:
        answer = await overt.client.post(settings(overt, form), data={"csrf_token": token})
        assert answer.status_code == 403, form
    assert (await get_site(engine=overt.resources.engine, site_id=overt.site.id)) == overt.site


async def test_every_form_needs_its_token(overt: Overt) -> None:
    await as_role(overt, "admin")
    for form in FORMS:
        answer = await overt.client.post(settings(overt, form), data={"k": "9"})
        assert answer.status_code == 403, form
        wrong = await overt.client.post(settings(overt, form), data={"csrf_token": "0" * 64})
        assert wrong.status_code == 403, form


async def test_site_settings_change_as_overt_site_set_changes_them(overt: Overt) -> None:
    token = await as_role(overt, "admin")
    page = await overt.client.get(settings(overt))
    assert page.status_code == 200
    assert 'value="25"' in page.text  # raw retention, the default
    form = {
        "csrf_token": token,
        "timezone": "Europe/Paris",
        "extra_hosts": "Shop.Example.com\nblog.example.com",
        "raw_retention_months": "13",
        "rollup_retention_months": "",
        "k": "8",
        "consent_required": "on",
    }
    refused = await overt.client.post(
        settings(overt, "site"), data={**form, "raw_retention_months": "30"}
    )
    assert refused.status_code == 422
    assert (
        '<p class="error" id="site-raw_retention_months-problem">'
        "Input should be less than or equal to 25.</p>"
    ) in refused.text
    assert (await get_site(engine=overt.resources.engine, site_id=overt.site.id)) == overt.site
    unknown = await overt.client.post(settings(overt, "site"), data={**form, "timezone": "Mars/X"})
    assert unknown.status_code == 422
    assert "Unknown time zone: &#39;Mars/X&#39;." in unknown.text
    saved = await overt.client.post(settings(overt, "site"), data=form)
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("/settings?saved=site#site")
    site = await get_site(engine=overt.resources.engine, site_id=overt.site.id)
    assert site is not None
    assert site.timezone == "Europe/Paris"
    assert site.settings.extra_hosts == ("shop.example.com", "blog.example.com")
    assert (site.settings.raw_retention_months, site.settings.consent_required) == (13, True)
    assert (await current_definition(overt.resources.engine, overt.site.id)).k == 8


async def test_goals_and_segments_are_added_refused_and_deleted(overt: Overt) -> None:
    token = await as_role(overt, "admin")
    engine, site_id = overt.resources.engine, overt.site.id
    added = await overt.client.post(
        settings(overt, "goals"),
        data={"csrf_token": token, "kind": "event", "target": "Signup", "currency": "eur"},
    )
    assert added.status_code == 303
    [goal] = await list_goals(engine=engine, site_id=site_id)
    assert (goal.name, goal.event, goal.currency) == ("Signup", "Signup", "EUR")
    again = await overt.client.post(
        settings(overt, "goals"), data={"csrf_token": token, "kind": "event", "target": "Signup"}
    )
    assert again.status_code == 422
    bad = await overt.client.post(
        settings(overt, "goals"), data={"csrf_token": token, "kind": "page", "target": "thanks"}
    )
    assert bad.status_code == 422
    assert "String should match pattern" in bad.text
    removed = await overt.client.post(
        settings(overt, f"goals/{goal.id}/delete"), data={"csrf_token": token}
    )
    assert removed.status_code == 303
    assert await list_goals(engine=engine, site_id=site_id) == []

    segment = await overt.client.post(
        settings(overt, "segments"),
        data={
            "csrf_token": token,
            "name": "Search",
            "dimension": "source",
            "op": "is",
            "values": "Google\nBing",
        },
    )
    assert segment.status_code == 303
    [made] = await list_segments(engine=engine, site_id=site_id)
    assert made.filters.model_dump(exclude_none=True) == {
        "dimension": "source",
        "op": "is",
        "values": ["Google", "Bing"],
    }
    page = await overt.client.get(settings(overt))
    assert "Search" in page.text
    assert "source is Google or Bing" in page.text  # in words, not the stored JSON
    assert '{"dimension":"source"' not in page.text
    assert (
        await overt.client.post(
            settings(overt, f"segments/{made.id}/delete"), data={"csrf_token": token}
        )
    ).status_code == 303
    assert await list_segments(engine=engine, site_id=site_id) == []


async def test_destinations_webhook_shows_its_secret_once_and_slack_keeps_its_cooldown(
    overt: Overt,
) -> None:
    token = await as_role(overt, "admin")
    engine, site_id = overt.resources.engine, overt.site.id
    private = await overt.client.post(
        settings(overt, "destinations"),
        data={
            "csrf_token": token,
            "kind": "webhook",
            "url": "http://127.0.0.1:9/hook",
            "events": "contact.goal_completed",
        },
    )
    assert private.status_code == 422
    assert "non-public address" in private.text or "does not resolve" in private.text
    # Repeated checkbox fields arrive as several values of `events`.
    webhook = await overt.client.post(
        settings(overt, "destinations"),
        data={
            "csrf_token": token,
            "kind": "webhook",
            "url": "https://93.184.215.14/hook",
            "events": ["contact.goal_completed", "contact.withdrawn"],
        },
    )
    assert webhook.status_code == 200
    secret = re.search(r"<pre>(whsec_[A-Za-z0-9+/=]+)</pre>", webhook.text)
    assert secret is not None
    assert secret.group(1) not in (await overt.client.get(settings(overt))).text
    slack = await overt.client.post(
        settings(overt, "destinations"),
        data={
            "csrf_token": token,
            "kind": "slack",
            "url": "https://93.184.215.14/services/T/B/x",
            "events": "contact.intent_threshold_crossed",
            "cooldown_hours": "6",
        },
    )
    assert slack.status_code == 303
    made = {d.kind.value: d for d in await list_subscriptions(engine=engine, site_id=site_id)}
    assert [e.value for e in made["webhook"].events] == [
        "contact.goal_completed",
        "contact.withdrawn",
    ]
    assert made["slack"].cooldown_hours == 6
    assert "one alert per contact per 6 h" in (await overt.client.get(settings(overt))).text
    gone = await overt.client.post(
        settings(overt, f"destinations/{made['slack'].id}/delete"), data={"csrf_token": token}
    )
    assert gone.status_code == 303
    assert [d.kind.value for d in await list_subscriptions(engine=engine, site_id=site_id)] == [
        "webhook"
    ]
