"""Slack and HubSpot destinations on both backends, against loopback receivers: the loop from
consent to a named Slack alert and back to a withdrawal, the rules that keep alerts
respectful (a yes to contact, several visits and signals, one per cool-down), goal alerts,
and HubSpot's documented request shapes for upsert, archive and GDPR delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.api.people import hubspot as crm_api
from services.api.people import slack
from services.api.people.schemas import GoalCompletedEvent
from services.api.people.signing import verify
from services.api.people.webhooks import deliver_due, http_client, queue_notices, webhook_pass
from shared.consent_state import Agreement
from shared.db import metadata
from shared.identities import SharedIdentity
from shared.sites import update_site
from shared.subject_records import subject_outcomes
from tests.helpers.consent import post_decisions
from tests.helpers.overt import Overt
from tests.helpers.people import (
    HUBSPOT_TOKEN,
    auth,
    consent_site,
    consented_subject,
    erase,
    full_key,
    hubspot,
    name_subject,
    pricing_definition,
    receiver,
    visit,
    withdraw,
)
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

INTENT = "contact.intent_threshold_crossed"
GOAL = "contact.goal_completed"


async def add_destination(people: Overt, key: str, **body: Any) -> dict[str, Any]:
    response = await people.client.post(
        f"/v1/sites/{people.site.id}/webhooks", json=body, headers=auth(key)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def delivery_log(people: Overt, key: str, hook_id: str) -> list[dict[str, Any]]:
    response = await people.client.get(
        f"/v1/sites/{people.site.id}/webhooks/{hook_id}/deliveries", headers=auth(key)
    )
    assert response.status_code == 200, response.text
    return list(response.json()["deliveries"])


def text_of(message: dict[str, Any]) -> str:
    """Every text a Block Kit message shows, joined."""
    parts = [message["text"]]
    for block in message["blocks"]:
        if "text" in block:
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            parts.append(element["text"] if isinstance(element["text"], str) else "")
            parts.append(element.get("url", ""))
    return "\n".join(parts)


async def test_consent_to_a_named_slack_alert_and_back_to_a_withdrawal(people: Overt) -> None:
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    ada = await consented_subject(people, site, "Ada", marketing_contact=True)
    await name_subject(people, site, ada, "ada@example.org", display_name="Ada Lovelace")
    async with receiver() as slack_hook, http_client(people.resources.settings) as client:
        made = await add_destination(people, key, kind="slack", url=slack_hook.url, events=[INTENT])
        assert (made["kind"], made["cooldown_hours"], made["cooldown_from_site"]) == (
            "slack",
            24,
            True,
        )

        await visit(people, ada, "/pricing", hours_ago=3)  # a first visit
        await webhook_pass(people.resources, client)
        assert slack_hook.requests == []  # one visit is never intent
        await visit(people, ada, "/docs", "/pricing")  # a second visit, hours later
        await webhook_pass(people.resources, client)
        assert len(slack_hook.requests) == 1
        sent = slack_hook.requests[0]
        assert sent.headers["content-type"] == "application/json"
        message = sent.json()
        assert message["blocks"][0]["type"] == "header"
        assert "Ada Lovelace" in message["blocks"][0]["text"]["text"]
        shown = text_of(message)
        assert "ada@example.org" in shown
        assert "`marketing_contact`" in shown
        assert "`identification`" in shown
        assert "pricing_twice" in shown  # the signal, with its explanation
        assert "you may reach out" in shown
        assert f"/v1/sites/{site.id}/contacts/{ada.subject_id}" in shown

        await visit(people, ada, "/pricing")  # more page views: no second alert
        await webhook_pass(people.resources, client)
        await webhook_pass(people.resources, client)
        assert len(slack_hook.requests) == 1

        await withdraw(people, site, ada)
        url = f"/v1/sites/{site.id}/contacts"
        listed = await people.client.get(url, headers=auth(key))
        assert listed.json()["contacts"] == []
        assert "ada@example.org" not in listed.text
        gone = await people.client.get(f"{url}/{ada.subject_id}", headers=auth(key))
        assert_problem(gone, 404, "contact-not-found")
        await webhook_pass(people.resources, client)
        assert len(slack_hook.requests) == 2
        follow_up = text_of(slack_hook.requests[1].json())
        assert "withdrew their consent" in follow_up
        assert "Ada" not in follow_up
        assert "ada@example.org" not in follow_up


async def test_one_visit_crosses_for_a_webhook_but_never_alerts_slack(people: Overt) -> None:
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    dana = await consented_subject(people, site, "Dana", marketing_contact=True)
    await name_subject(people, site, dana, "dana@example.org")
    async with (
        receiver() as slack_hook,
        receiver() as plain,
        http_client(people.resources.settings) as client,
    ):
        await add_destination(people, key, kind="slack", url=slack_hook.url, events=[INTENT])
        await add_destination(people, key, url=plain.url, events=[INTENT])
        await visit(people, dana, "/pricing", "/pricing", "/pricing")  # intent, in one visit
        await webhook_pass(people.resources, client)
        assert len(plain.requests) == 1
        assert plain.requests[0].json()["data"]["contact"]["identity"]["value"] == (
            "dana@example.org"
        )
        assert slack_hook.requests == []
        await visit(people, dana, "/", hours_ago=5)  # an earlier visit makes it two
        await webhook_pass(people.resources, client)
        assert len(slack_hook.requests) == 1
        assert len(plain.requests) == 1  # the crossing was told once


async def test_what_was_agreed_is_read_again_when_the_alert_is_sent(people: Overt) -> None:
    """Queued while Ada agreed to be contacted; she takes that back before it goes out: the
    alert is not sent. Her identification consent is intact, so no follow-up either."""
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    ada = await consented_subject(people, site, "Ada", marketing_contact=True)
    await name_subject(people, site, ada, "ada@example.org")
    async with receiver() as slack_hook, http_client(people.resources.settings) as client:
        made = await add_destination(people, key, kind="slack", url=slack_hook.url, events=[INTENT])
        await visit(people, ada, "/pricing", hours_ago=3)
        await visit(people, ada, "/pricing")
        await queue_notices(people.resources)
        [queued] = await delivery_log(people, key, made["id"])
        assert queued["status"] == "pending"
        no_more = await post_decisions(people, site, ada.credential, marketing_contact=False)
        assert no_more.status_code == 200, no_more.text
        await deliver_due(people.resources, client)
        assert slack_hook.requests == []
        [held] = await delivery_log(people, key, made["id"])
        assert held["status"] == "cancelled"
        assert held["log"][-1]["error"] == "not sent: the contact did not agree to be contacted"


async def test_an_intent_alert_needs_a_yes_to_contact(people: Overt) -> None:
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    bob = await consented_subject(people, site, "Bob")  # identification only
    await name_subject(people, site, bob, "bob@example.org")
    async with receiver() as slack_hook, http_client(people.resources.settings) as client:
        made = await add_destination(people, key, kind="slack", url=slack_hook.url, events=[INTENT])
        await visit(people, bob, "/pricing", hours_ago=3)
        await visit(people, bob, "/pricing")
        await webhook_pass(people.resources, client)
        assert slack_hook.requests == []
        [held] = await delivery_log(people, key, made["id"])
        assert held["status"] == "cancelled"
        assert held["log"][0]["error"] == "not sent: the contact did not agree to be contacted"


async def test_a_goal_alert_says_whether_contact_is_welcome_once_per_cooldown(
    people: Overt,
) -> None:
    site = await consent_site(people)
    key = await full_key(people)
    cleo = await consented_subject(people, site, "Cleo")
    await name_subject(people, site, cleo, "cleo-77", kind="external_id", display_name="Cleo")
    async with (
        receiver() as slack_hook,
        receiver() as plain,
        http_client(people.resources.settings) as client,
    ):
        await add_destination(
            people, key, kind="slack", url=slack_hook.url, events=[GOAL], cooldown_hours=1
        )
        hook = await add_destination(people, key, url=plain.url, events=[GOAL])
        for _ in range(2):
            goal = people.event(n="Signup", u="https://example.com/register", k=cleo.token)
            assert (await people.send(goal, **{"user-agent": cleo.agent})).status_code == 202
        await people.drained()
        await webhook_pass(people.resources, client)
        await webhook_pass(people.resources, client)
        assert len(slack_hook.requests) == 1  # two goals, one alert in the cool-down
        shown = text_of(slack_hook.requests[0].json())
        assert "Cleo completed “Signup”" in shown
        assert "did *not* agree to be contacted" in shown
        assert len(plain.requests) == 2  # a webhook has no cool-down: each goal, once
        for sent in plain.requests:
            assert verify(hook["secret"], sent.body, sent.headers)
            event = GoalCompletedEvent.model_validate_json(sent.body)  # as documented
            assert event.data.goal.name == "Signup"
            assert event.data.contact.identity is not None
            assert event.data.contact.identity.value == "cleo-77"


async def test_a_slack_destination_without_its_own_cool_down_follows_the_sites(
    people: Overt,
) -> None:
    site = await consent_site(people)
    key = await full_key(people)
    cleo = await consented_subject(people, site, "Cleo")
    await name_subject(people, site, cleo, "cleo-78", kind="external_id", display_name="Cleo")
    await update_site(
        engine=people.resources.engine, site_id=site.id, changes={"alert_cooldown_hours": 1}
    )
    async with receiver() as slack_hook, http_client(people.resources.settings) as client:
        made = await add_destination(people, key, kind="slack", url=slack_hook.url, events=[GOAL])
        assert (made["cooldown_hours"], made["cooldown_from_site"]) == (1, True)
        own = await add_destination(
            people,
            key,
            kind="slack",
            url=slack_hook.url + "?own",
            events=[INTENT],
            cooldown_hours=3,
        )
        assert (own["cooldown_hours"], own["cooldown_from_site"]) == (3, False)

        async def goal_alerts() -> int:
            goal = people.event(n="Signup", u="https://example.com/register", k=cleo.token)
            assert (await people.send(goal, **{"user-agent": cleo.agent})).status_code == 202
            await people.drained()
            await webhook_pass(people.resources, client)
            return len(slack_hook.requests)

        async def last_alert_hours_ago(hours: int) -> None:
            alerts = metadata.tables["destination_alerts"]
            async with people.resources.engine.begin() as conn:
                await conn.execute(
                    alerts.update()
                    .where(alerts.c.subscription_id == made["id"])
                    .values(alerted_at=datetime.now(UTC) - timedelta(hours=hours))
                )

        assert await goal_alerts() == 1
        assert await goal_alerts() == 1  # within the site's hour
        await last_alert_hours_ago(2)
        assert await goal_alerts() == 2  # the site's hour has passed
        # The site lengthens its cool-down: the destination follows at the next alert.
        await update_site(
            engine=people.resources.engine, site_id=site.id, changes={"alert_cooldown_hours": 5}
        )
        listed = await people.client.get(f"/v1/sites/{site.id}/webhooks", headers=auth(key))
        hours = {hook["id"]: hook["cooldown_hours"] for hook in listed.json()["webhooks"]}
        assert hours == {made["id"]: 5, own["id"]: 3}
        await last_alert_hours_ago(2)
        assert await goal_alerts() == 2  # two hours ago is within five


async def test_hubspot_gets_documented_upserts_archives_and_gdpr_deletes(people: Overt) -> None:
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    ada = await consented_subject(people, site, "Ada")
    eve = await consented_subject(people, site, "Eve")
    await name_subject(people, site, ada, "ada@example.org")
    await name_subject(people, site, eve, "eve@example.org")
    async with hubspot() as crm, http_client(people.resources.settings) as client:
        made = await add_destination(
            people, key, kind="hubspot", url=crm.url, events=[INTENT], access_token=HUBSPOT_TOKEN
        )
        assert "access_token" not in made
        for subject in (ada, eve):
            await visit(people, subject, "/pricing", "/pricing")
        await webhook_pass(people.resources, client)
        assert crm.refused == []
        assert sorted(crm.contacts.values()) == ["ada@example.org", "eve@example.org"]
        upsert = crm.requests[0].json()["inputs"][0]
        assert upsert["idProperty"] == "email"
        assert upsert["properties"]["overt_intent"] == "true"
        assert upsert["properties"]["overt_signals"] == "pricing_twice"

        await withdraw(people, site, ada)
        await erase(people, site, eve)
        await webhook_pass(people.resources, client)
        assert crm.refused == []
        assert crm.contacts == {}  # archived, and deleted for good
        methods = sorted((r.method, r.path.rsplit("/", 1)[-1]) for r in crm.requests[2:])
        assert [m for m, _ in methods] == ["DELETE", "POST"]
        assert methods[1][1] == "gdpr-delete"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"kind": "slack", "events": ["contact.withdrawn"]}, "triggers only"),
        ({"kind": "hubspot", "events": [INTENT]}, "access_token"),
        ({"kind": "webhook", "events": [INTENT], "cooldown_hours": 2}, "cooldown_hours"),
        ({"kind": "slack", "events": [INTENT], "cooldown_hours": 0}, "greater than"),
        ({"kind": "teams", "events": [INTENT]}, "kind"),
    ],
)
async def test_a_destination_that_does_not_fit_its_kind_is_a_422(
    people: Overt, body: dict[str, Any], detail: str
) -> None:
    key = await full_key(people)
    response = await people.client.post(
        f"/v1/sites/{people.site.id}/webhooks",
        json={"url": "https://hooks.example.com/x", **body},
        headers=auth(key),
    )
    assert_problem(response, 422, "validation-error")
    assert detail in response.text


GIVEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
CONTACT = {
    "score": 12.0,
    "intent_threshold": 5.0,
    "signals": [{"rule": "pricing_twice", "explanation": "viewed /pricing twice"}],
    "explanation": [{"signal": "pageviews", "points": 2.0}],
}


@settings(max_examples=60, derandomize=True, deadline=None, database=None)
@given(name=st.text(max_size=400), value=st.text(min_size=1, max_size=300), goal=st.text())
def test_whatever_a_visitor_or_site_wrote_a_slack_alert_stays_within_block_kit(
    name: str, value: str, goal: str
) -> None:
    """A display name, an id or a goal name cannot inject a link or a mention (<...>), break
    a block's limits, or make the message fail to say who it is about."""
    identity = SharedIdentity("external_id", value, name or None, "site_assertion", GIVEN)
    agreed = [Agreement("marketing_contact", f"<!channel> {name}", GIVEN, None, True)]
    message = slack.alert(
        event_type=GOAL,
        identity=identity,
        agreed=agreed,
        contact=CONTACT,
        goal={"name": goal, "page": "example.com/<x>"},
        link="https://overt.example/v1/sites/s/contacts/c",
    )
    assert len(message["text"]) <= slack.FALLBACK_MAX
    for block in message["blocks"]:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= slack.HEADER_MAX
        if block["type"] == "section":
            shown = block["text"]["text"]
            assert len(shown) <= slack.TEXT_MAX
            assert "<" not in shown
            assert ">" not in shown
    assert message["blocks"][0]["text"]["type"] == "plain_text"  # no markup in the header
    assert slack.escape(value)[:50] in text_of(message) or len(value) > 50


async def test_export_and_erasure_cover_outcomes_and_every_destination(people: Overt) -> None:
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    ada = await consented_subject(people, site, "Ada", marketing_contact=True)
    await name_subject(people, site, ada, "ada@example.org", display_name="Ada Lovelace")
    async with (
        receiver() as plain,
        receiver() as slack_hook,
        hubspot() as crm,
        http_client(people.resources.settings) as client,
    ):
        await add_destination(people, key, url=plain.url, events=[INTENT])
        await add_destination(people, key, kind="slack", url=slack_hook.url, events=[INTENT])
        await add_destination(
            people, key, kind="hubspot", url=crm.url, events=[INTENT], access_token=HUBSPOT_TOKEN
        )
        await visit(people, ada, "/pricing", hours_ago=2)
        await visit(people, ada, "/pricing")
        await webhook_pass(people.resources, client)
        assert (len(plain.requests), len(slack_hook.requests), len(crm.contacts)) == (1, 1, 1)
        booked = await people.client.post(
            f"/v1/sites/{site.id}/outcomes",
            json={"id": "meeting-1", "kind": "meeting_booked", "subject_id": ada.subject_id},
            headers=auth(key),
        )
        assert booked.status_code == 201, booked.text

        subject_auth = {"authorization": f"Bearer {ada.credential}"}
        exported = await people.client.get(f"/consent/sites/{site.id}/export", headers=subject_auth)
        assert exported.status_code == 200, exported.text
        data = exported.json()
        assert [(o["id"], o["kind"]) for o in data["outcomes"]] == [("meeting-1", "meeting_booked")]
        assert sorted(r["name"] for r in data["recipients"] if r["role"] == "recipient") == [
            "HubSpot CRM (127.0.0.1)",
            "Slack (127.0.0.1)",
            "Webhook (127.0.0.1)",
        ]
        assert "/hook" not in exported.text  # a destination's URL (a Slack secret) is not shown

        opened = await people.client.post(
            f"/consent/sites/{site.id}/preferences/session",
            data={"credential": ada.credential},
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "origin": "https://example.com",
            },
        )
        assert opened.status_code == 303, opened.text
        page = await people.client.get(opened.headers["location"])
        for name in ("Webhook (127.0.0.1)", "Slack (127.0.0.1)", "HubSpot CRM (127.0.0.1)"):
            assert name in page.text

        await erase(people, site, ada)
        await webhook_pass(people.resources, client)
        assert plain.requests[-1].json()["type"] == "contact.deleted"
        assert "was erased" in text_of(slack_hook.requests[-1].json())
        assert crm.requests[-1].path == "/crm/v3/objects/contacts/gdpr-delete"
        assert crm.contacts == {}
        assert crm.refused == []
        async with people.resources.engine.connect() as conn:
            left = await subject_outcomes(conn=conn, site_id=site.id, subject_id=ada.subject_id)
            assert left == []
            # No table (the outbox and delivery log included) holds who she was.
            for table in metadata.sorted_tables:
                for row in (await conn.execute(select(table))).all():
                    held = repr(tuple(row))
                    assert "ada@example.org" not in held, table.name
                    assert "Lovelace" not in held, table.name


@settings(max_examples=100, derandomize=True, deadline=None, database=None)
@given(
    answer=st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda value: b'{"results": [{"id": ' + value + b"}]}",
            st.sampled_from([b'"501"', b"501", b'"../x"', b"null", b'"1/2"', b"[1]", b'"\\u0661"']),
        ),
    )
)
def test_whatever_the_crm_answers_only_digits_are_kept_as_its_id(answer: bytes) -> None:
    """The id goes into a URL path later: anything but ASCII digits is not kept."""
    kept = crm_api.object_id(answer)
    assert kept is None or (kept.isascii() and kept.isdigit() and len(kept) <= 64)
    if answer in (b'{"results": [{"id": "501"}]}', b'{"results": [{"id": 501}]}'):
        assert kept == "501"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "http://169.254.169.254/latest", "http://[::1]/x"]
)
@pytest.mark.parametrize(
    "kind", [{"kind": "slack"}, {"kind": "hubspot", "access_token": HUBSPOT_TOKEN}]
)
async def test_slack_and_hubspot_follow_the_webhook_address_rules(
    overt: Overt, url: str, kind: dict[str, str]
) -> None:
    key = await full_key(overt)
    response = await overt.client.post(
        f"/v1/sites/{overt.site.id}/webhooks",
        json={"url": url, "events": [INTENT], **kind},
        headers=auth(key),
    )
    assert_problem(response, 422, "webhook-target-refused")
