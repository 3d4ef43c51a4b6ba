"""Webhooks on both backends against a real HTTP receiver on 127.0.0.1: the signature
verifies, failures are retried with backoff and logged, nothing is sent after withdrawal,
erasure sends a deletion notice, and private targets are refused unless allowed."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.api.people.exceptions import UnsafeTarget
from services.api.people.signing import verify
from services.api.people.targets import check_target, is_public, pinned
from services.api.people.tasks import run_webhooks
from services.api.people.webhooks import (
    LEASE,
    deliver_due,
    http_client,
    lease_due,
    scan_consent_ends,
    scan_intent,
    webhook_pass,
)
from services.api.people.webhooks import _send_one as send_one
from services.consent.expiry.service import expire_consents
from shared.metrics import REGISTRY
from shared.runtime import Resources, open_resources
from tests.helpers.consent import post_decisions
from tests.helpers.overt import Overt
from tests.helpers.people import (
    Receiver,
    Subject,
    Trickler,
    auth,
    consent_site,
    consented_subject,
    erase,
    full_key,
    pricing_definition,
    receiver,
    trickler,
    visit,
    withdraw,
)
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

EVENTS = ["contact.intent_threshold_crossed", "contact.deleted"]


async def subscribe(people: Overt, key: str, target: Receiver | Trickler) -> dict[str, str]:
    response = await people.client.post(
        f"/v1/sites/{people.site.id}/webhooks",
        json={"url": target.url, "events": EVENTS},
        headers=auth(key),
    )
    assert response.status_code == 201, response.text
    body = dict(response.json())
    assert body["secret"].startswith("whsec_")
    return body


async def intent_scan(people: Overt, now: datetime | None = None) -> int:
    """Queue the site's new intent crossings now (or at `now`)."""
    return await scan_intent(
        engine=people.resources.engine,
        secret=people.resources.settings.secret(),
        site_id=people.site.id,
        now=now or datetime.now(UTC),
    )


async def deliveries(people: Overt, key: str, hook_id: str) -> list[dict[str, Any]]:
    response = await people.client.get(
        f"/v1/sites/{people.site.id}/webhooks/{hook_id}/deliveries", headers=auth(key)
    )
    assert response.status_code == 200, response.text
    return list(response.json()["deliveries"])


async def test_intent_crossing_is_signed_then_erasure_sends_deletion_notice(people: Overt) -> None:
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    alice = await consented_subject(people, site, "Alice")
    async with receiver() as target, http_client(people.resources.settings) as client:
        hook = await subscribe(people, key, target)
        listed = await people.client.get(f"/v1/sites/{site.id}/webhooks", headers=auth(key))
        assert [h["id"] for h in listed.json()["webhooks"]] == [hook["id"]]
        assert "secret" not in listed.json()["webhooks"][0]  # shown once only

        await visit(people, alice, "/pricing")
        await webhook_pass(people.resources, client)
        assert target.requests == []  # one pricing view: no intent yet

        await visit(people, alice, "/pricing")
        await webhook_pass(people.resources, client)
        await webhook_pass(people.resources, client)  # crossing is notified once only
        assert len(target.requests) == 1
        sent = target.requests[0]
        assert verify(hook["secret"], sent.body, sent.headers)
        assert sent.headers["webhook-signature"].startswith("v1,")
        assert not verify("whsec_" + "00" * 32, sent.body, sent.headers)
        assert not verify(hook["secret"], sent.body + b" ", sent.headers)
        payload = orjson.loads(sent.body)
        assert payload["type"] == "contact.intent_threshold_crossed"
        assert payload["id"] == sent.headers["webhook-id"]
        assert payload["data"]["contact"]["subject_id"] == alice.subject_id
        assert payload["data"]["contact"]["score"] == 12

        await erase(people, site, alice)
        await webhook_pass(people.resources, client)
        assert len(target.requests) == 2
        notice = orjson.loads(target.requests[1].body)
        assert notice["type"] == "contact.deleted"
        assert notice["data"] == {"subject_id": alice.subject_id, "reason": "erasure"}
        await webhook_pass(people.resources, client)
        assert len(target.requests) == 2  # once

        log = await deliveries(people, key, hook["id"])
        assert [d["status"] for d in log] == ["delivered", "delivered"]


async def test_failures_are_retried_with_backoff_and_logged(people: Overt) -> None:
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    alice = await consented_subject(people, site, "Alice")
    counted = {
        outcome: REGISTRY.get_sample_value("overt_webhook_attempts_total", {"outcome": outcome})
        or 0.0
        for outcome in ("retry", "delivered", "failed")
    }
    async with receiver() as target, http_client(people.resources.settings) as client:
        target.statuses = [500, 503]
        hook = await subscribe(people, key, target)
        await visit(people, alice, "/pricing", "/pricing")
        await webhook_pass(people.resources, client)
        assert len(target.requests) == 1
        # After failure n the delivery waits retry_base * 2^(n-1): 0.05 s, then 0.1 s.
        for failed, delay in ((1, 0.05), (2, 0.1)):
            [pending] = await deliveries(people, key, hook["id"])
            assert (pending["status"], pending["attempts"]) == ("pending", failed)
            attempted = datetime.fromisoformat(pending["log"][-1]["attempted_at"])
            due = datetime.fromisoformat(pending["next_attempt_at"])
            assert due - attempted == timedelta(seconds=delay)
            assert await deliver_due(people.resources, client, now=attempted) == 0  # not yet
            assert await deliver_due(people.resources, client, now=due) == 1
            assert len(target.requests) == failed + 1
        assert len({r.headers["webhook-id"] for r in target.requests}) == 1
        log = await deliveries(people, key, hook["id"])
        assert log[0]["status"] == "delivered"
        assert [(a["attempt"], a["status_code"]) for a in log[0]["log"]] == [
            (1, 500),
            (2, 503),
            (3, 200),
        ]
        moments = [a["attempted_at"] for a in log[0]["log"]]
        assert moments == sorted(moments)
    assert {
        outcome: (
            REGISTRY.get_sample_value("overt_webhook_attempts_total", {"outcome": outcome}) or 0.0
        )
        - before
        for outcome, before in counted.items()
    } == {"retry": 2, "delivered": 1, "failed": 0}


async def test_nothing_is_sent_after_withdrawal(people: Overt) -> None:
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    alice = await consented_subject(people, site, "Alice")
    async with receiver() as target, http_client(people.resources.settings) as client:
        target.statuses = [500]
        hook = await subscribe(people, key, target)
        await visit(people, alice, "/pricing", "/pricing")
        await webhook_pass(people.resources, client)  # queued, first attempt fails
        assert len(target.requests) == 1
        await withdraw(people, site, alice)
        later = datetime.now(UTC) + timedelta(seconds=1)  # the retry is due by then
        assert await deliver_due(people.resources, client, now=later) == 1
        await webhook_pass(people.resources, client)
        # The retry was not sent; the only request since is the withdrawal notice.
        assert [orjson.loads(r.body)["type"] for r in target.requests[1:]] == ["contact.withdrawn"]
        log = {d["event_type"]: d for d in await deliveries(people, key, hook["id"])}
        crossing = log["contact.intent_threshold_crossed"]
        assert crossing["status"] == "cancelled"
        assert "consent" in str(crossing["log"][-1]["error"])
        assert log["contact.withdrawn"]["status"] == "delivered"


async def decide_again(people: Overt, site: Any, subject: Subject, *, grant: bool) -> None:
    response = await post_decisions(people, site, subject.credential, identification=grant)
    assert response.status_code == 200, response.text


async def test_withdrawal_notifies_every_recipient_once_and_nothing_follows(
    people: Overt,
) -> None:
    """Alice's crossing reached `main` (its first attempt failed, so a retry is pending);
    `quiet` never got her, Bob was never sent anywhere. Her withdrawal: one signed
    contact.withdrawn to main only (main did not list that event: it goes anyway), the
    pending retry is cancelled for good (consenting again does not revive it), a repeated
    refusal is no second notice, and a later erasure still reaches main."""
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    alice = await consented_subject(people, site, "Alice")
    bob = await consented_subject(people, site, "Bob")
    async with (
        receiver() as main,
        receiver() as quiet,
        http_client(people.resources.settings) as client,
    ):
        main.statuses = [500]
        hook = await subscribe(people, key, main)
        made = await people.client.post(
            f"/v1/sites/{site.id}/webhooks",
            json={"url": quiet.url, "events": ["contact.deleted", "contact.withdrawn"]},
            headers=auth(key),
        )
        assert made.status_code == 201, made.text
        await visit(people, alice, "/pricing", "/pricing")
        await visit(people, bob, "/")
        await webhook_pass(people.resources, client)
        assert len(main.requests) == 1  # the crossing, answered 500

        await withdraw(people, site, alice)
        await withdraw(people, site, bob)
        await webhook_pass(people.resources, client)
        assert len(main.requests) == 2
        sent = main.requests[1]
        assert verify(hook["secret"], sent.body, sent.headers)
        notice = orjson.loads(sent.body)
        assert notice["type"] == "contact.withdrawn"
        assert notice["id"] == sent.headers["webhook-id"]
        assert notice["data"] == {"subject_id": alice.subject_id, "reason": "withdrawn"}
        assert quiet.requests == []  # it never got Alice, and Bob went nowhere

        await decide_again(people, site, alice, grant=False)  # a refusal: nothing new ended
        await decide_again(people, site, alice, grant=True)  # consents again
        later = datetime.now(UTC) + timedelta(minutes=5)  # any retry would be due
        assert await deliver_due(people.resources, client, now=later) == 0
        await webhook_pass(people.resources, client)
        assert len(main.requests) == 2
        log = {d["event_type"]: d for d in await deliveries(people, key, hook["id"])}
        assert set(log) == {"contact.intent_threshold_crossed", "contact.withdrawn"}
        assert log["contact.withdrawn"]["status"] == "delivered"
        crossing = log["contact.intent_threshold_crossed"]
        assert (crossing["status"], crossing["attempts"]) == ("cancelled", 1)
        assert "consent" in str(crossing["log"][-1]["error"])

        await erase(people, site, alice)
        await webhook_pass(people.resources, client)
        assert [orjson.loads(r.body)["type"] for r in main.requests[2:]] == ["contact.deleted"]
        assert quiet.requests == []


async def test_a_delivery_in_flight_when_consent_ends_is_not_revived(people: Overt) -> None:
    """A sender has leased Alice's crossing when her withdrawal is scanned: the delivery is
    cancelled at once. The sender goes on (she has consented again in between, so its own
    check lets the request out) and gets a 500: its attempt is logged, but the delivery stays
    cancelled and no retry follows."""
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    alice = await consented_subject(people, site, "Alice")
    async with receiver() as target, http_client(people.resources.settings) as client:
        target.statuses = [500]
        hook = await subscribe(people, key, target)
        await visit(people, alice, "/pricing", "/pricing")
        engine = people.resources.engine
        assert await intent_scan(people) == 1
        [leased] = await lease_due(engine, datetime.now(UTC))
        await withdraw(people, site, alice)
        await scan_consent_ends(engine=engine, site_id=site.id, now=datetime.now(UTC))
        [cancelled] = await deliveries(people, key, hook["id"])
        assert (cancelled["status"], cancelled["log"]) == ("cancelled", [])
        await decide_again(people, site, alice, grant=True)
        await send_one(people.resources, client, leased)
        assert len(target.requests) == 1
        later = datetime.now(UTC) + timedelta(minutes=5)
        assert await deliver_due(people.resources, client, now=later) == 0
        [after] = await deliveries(people, key, hook["id"])
        assert after["status"] == "cancelled"
        assert [(a["attempt"], a["status_code"]) for a in after["log"]] == [(1, 500)]


async def test_expiry_notifies_a_recipient_that_has_since_unsubscribed(people: Overt) -> None:
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    alice = await consented_subject(people, site, "Alice")
    async with receiver() as target, http_client(people.resources.settings) as client:
        hook = await subscribe(people, key, target)
        await visit(people, alice, "/pricing", "/pricing")
        await webhook_pass(people.resources, client)
        assert len(target.requests) == 1
        removed = await people.client.delete(
            f"/v1/sites/{site.id}/webhooks/{hook['id']}", headers=auth(key)
        )
        assert removed.status_code == 204
        # A year and a day later the consent has lapsed; the expiry job records it.
        lapsed = datetime.now(UTC) + timedelta(days=366)
        assert await expire_consents(resources=people.resources, site_id=site.id, now=lapsed) == 1
        await webhook_pass(people.resources, client)
        assert len(target.requests) == 2
        notice = orjson.loads(target.requests[1].body)
        assert (notice["type"], notice["data"]) == (
            "contact.withdrawn",
            {"subject_id": alice.subject_id, "reason": "expired"},
        )
        await webhook_pass(people.resources, client)
        assert len(target.requests) == 2  # once


async def test_background_sender_delivers_and_delete_stops_it(people: Overt) -> None:
    """The API's background task (run_webhooks) drives the same outbox."""
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    alice = await consented_subject(people, site, "Alice")
    bob = await consented_subject(people, site, "Bob")
    async with receiver() as target:
        hook = await subscribe(people, key, target)
        await visit(people, alice, "/pricing", "/pricing")
        stop = asyncio.Event()
        task = asyncio.create_task(run_webhooks(people.resources, stop))
        try:
            await target.wait_for(1)
            removed = await people.client.delete(
                f"/v1/sites/{site.id}/webhooks/{hook['id']}", headers=auth(key)
            )
            assert removed.status_code == 204
        finally:
            stop.set()
            await task
        # After the delete, a contact crossing the threshold queues nothing for it.
        await visit(people, bob, "/pricing", "/pricing")
        now = datetime.now(UTC)
        assert await intent_scan(people, now) == 0
        async with http_client(people.resources.settings) as client:
            assert await deliver_due(people.resources, client, now=now + LEASE * 2) == 0
        assert [orjson.loads(r.body)["data"]["contact"]["subject_id"] for r in target.requests] == [
            alice.subject_id
        ]
        again = await people.client.delete(
            f"/v1/sites/{site.id}/webhooks/{hook['id']}", headers=auth(key)
        )
        assert_problem(again, 404, "webhook-not-found")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest",
        "http://localhost/hook",
        "ftp://example.com/x",
        "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "http://[2002:a9fe:a9fe::1]/hook",  # 6to4 of 169.254.169.254
        "http://224.0.0.1/hook",  # multicast
    ],
)
async def test_private_targets_are_refused_by_default(overt: Overt, url: str) -> None:
    key = await full_key(overt)
    response = await overt.client.post(
        f"/v1/sites/{overt.site.id}/webhooks",
        json={"url": url, "events": ["contact.deleted"]},
        headers=auth(key),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "host", ["a" * 64 + ".example.com", "a." + "b" * 300 + ".com"], ids=["label", "name"]
)
async def test_a_host_name_too_long_for_dns_is_refused(overt: Overt, host: str) -> None:
    # A label over 63 characters (schemathesis sends them) passed URL validation, then the
    # resolver's IDNA encoding raised UnicodeError, not OSError: POST .../webhooks was a 500.
    key = await full_key(overt)
    response = await overt.client.post(
        f"/v1/sites/{overt.site.id}/webhooks",
        json={"url": f"https://{host}/hook", "events": ["contact.deleted"]},
        headers=auth(key),
    )
    assert_problem(response, 422, "webhook-target-refused")
    assert "not a DNS name" in response.json()["detail"]


async def test_outbox_survives_a_restart_and_an_abandoned_lease(people: Overt) -> None:
    """A sender that leased a delivery and died: after a restart (new resources on the same
    database) the delivery is sent once its lease has expired; nothing is lost."""
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    alice = await consented_subject(people, site, "Alice")
    async with receiver() as target:
        await subscribe(people, key, target)
        await visit(people, alice, "/pricing", "/pricing")
        async with http_client(people.resources.settings) as client:
            await webhook_pass(people.resources, client, intent=True)
            assert len(target.requests) == 1  # queue it and send it once ...
        log = await deliveries(people, key, (await _hook_id(people, key)))
        assert log[0]["status"] == "delivered"

        await erase(people, site, alice)
        async with http_client(people.resources.settings) as client:
            await webhook_pass(people.resources, client, intent=False)
        assert len(target.requests) == 2
        # ... and the dying sender: a second subject crosses, is queued and leased, never sent.
        bob = await consented_subject(people, site, "Bob")
        await visit(people, bob, "/pricing", "/pricing")
        assert await intent_scan(people) == 1
        leased = await lease_due(people.resources.engine, datetime.now(UTC))
        assert len(leased) == 1

        async with (
            open_resources(people.resources.settings) as restarted,
            http_client(restarted.settings) as client,
        ):
            assert await deliver_due(restarted, client) == 0  # still leased
            later = datetime.now(UTC) + LEASE + timedelta(seconds=1)
            assert await deliver_due(restarted, client, now=later) == 1
        assert len(target.requests) == 3
        assert orjson.loads(target.requests[2].body)["data"]["contact"]["subject_id"] == (
            bob.subject_id
        )


async def _hook_id(people: Overt, key: str) -> str:
    listed = await people.client.get(f"/v1/sites/{people.site.id}/webhooks", headers=auth(key))
    return str(listed.json()["webhooks"][0]["id"])


def test_requests_are_pinned_to_the_vetted_address() -> None:
    """After the SSRF check, the request goes to the address that was checked (no rebinding)."""
    url, headers, extensions = pinned("https://hooks.example.com:8443/in?x=1", "93.184.216.34")
    assert url == "https://93.184.216.34:8443/in?x=1"
    assert headers == {"host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}
    url, headers, extensions = pinned("http://hooks.example.com/in", "2606:2800:220:1::1")
    assert url == "http://[2606:2800:220:1::1]/in"
    assert (headers, extensions) == ({"host": "hooks.example.com"}, {})
    assert pinned("http://127.0.0.1:9/x", None) == ("http://127.0.0.1:9/x", {}, {})


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a00:1",  # NAT64 (RFC 6052) of 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
        "64:ff9b:1::808:808",  # the local-use NAT64 prefix (RFC 8215): any embedding
        "::10.0.0.1",  # IPv4-compatible (deprecated): never a real destination
        "::8.8.8.8",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:192.168.1.1",
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "ff02::1",  # multicast
        "ff0e::1",  # global-scope multicast is still not one receiver
        "224.0.0.1",
        "239.255.255.250",
    ],
)
async def test_addresses_that_reach_private_or_many_hosts_are_refused(address: str) -> None:
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(UnsafeTarget):
        await check_target(f"http://{literal}/hook", allow_private=False)
    # The operator's switch for local receivers still lets them through.
    assert await check_target(f"http://{literal}/hook", allow_private=True) is None


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"],
)
async def test_public_addresses_and_their_translations_are_accepted(address: str) -> None:
    """NAT64 and 6to4 of a public IPv4 address reach that public host (an IPv6-only sender
    behind DNS64 sees every IPv4-only receiver as 64:ff9b::a.b.c.d): allowed."""
    literal = f"[{address}]" if ":" in address else address
    vetted = await check_target(f"http://{literal}/hook", allow_private=False)
    assert vetted is not None
    assert ipaddress.ip_address(vetted) == ipaddress.ip_address(address)


def tuned(people: Overt, **settings: object) -> Resources:
    return replace(people.resources, settings=people.resources.settings.model_copy(update=settings))


async def test_a_trickling_receiver_is_cut_off_at_the_deadline_and_retried(people: Overt) -> None:
    """A receiver that answers a byte at a time never lets a single read time out; the
    request's total deadline ends the attempt, which is logged as failed and retried later."""
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    alice = await consented_subject(people, site, "Alice")
    sender = tuned(people, webhook_timeout_s=1.0)
    async with trickler() as slow, http_client(sender.settings) as client:
        hook = await subscribe(people, key, slow)
        await visit(people, alice, "/pricing", "/pricing")
        assert await intent_scan(people) == 1
        assert await deliver_due(sender, client) == 1
        [pending] = await deliveries(people, key, hook["id"])
        assert (pending["status"], pending["attempts"]) == ("pending", 1)
        [attempt] = pending["log"]
        assert attempt["status_code"] is None
        assert "deadline" in str(attempt["error"])
        assert "completed" not in slow.outcomes  # the sender gave up; the body never ended

        slow.release.set()  # the receiver recovers: the retry gets a whole answer
        due = datetime.fromisoformat(pending["next_attempt_at"])
        assert await deliver_due(sender, client, now=due) == 1
        [done] = await deliveries(people, key, hook["id"])
        assert done["status"] == "delivered"
        assert [a["status_code"] for a in done["log"]] == [None, 200]
        assert len(slow.requests) == 2


async def test_a_slow_receiver_does_not_hold_up_other_subscriptions(people: Overt) -> None:
    """Alice's crossing is queued for the slow receiver only, then Bob's for both, so the
    oldest due delivery is the slow one's. The fast receiver's delivery is made and recorded
    while the slow one is still trickling, and the slow subscription holds no more than its
    limit of connections (one here) although two of its deliveries are due."""
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    alice = await consented_subject(people, site, "Alice")
    bob = await consented_subject(people, site, "Bob")
    sender = tuned(people, webhook_timeout_s=120.0, webhook_subscription_concurrency=1)
    async with trickler() as slow, receiver() as fast, http_client(sender.settings) as client:
        slow_hook = await subscribe(people, key, slow)
        await visit(people, alice, "/pricing", "/pricing")
        assert await intent_scan(people) == 1
        fast_hook = await subscribe(people, key, fast)
        await visit(people, bob, "/pricing", "/pricing")
        assert await intent_scan(people) == 1

        sending = asyncio.create_task(deliver_due(sender, client))
        try:
            await fast.wait_for(1, timeout=20)
            async with asyncio.timeout(20):
                while (await deliveries(people, key, fast_hook["id"]))[0]["status"] == "pending":
                    await asyncio.sleep(0.01)
            [made] = await deliveries(people, key, fast_hook["id"])
            assert made["status"] == "delivered"
            # ... and the slow receiver is still being waited on, on one connection only.
            await slow.wait_for(1)
            assert (slow.held, slow.outcomes) == (1, [])
            waiting = await deliveries(people, key, slow_hook["id"])
            assert [(d["status"], d["attempts"]) for d in waiting] == [("pending", 0)] * 2
            slow.release.set()
            assert await sending == 2
        finally:
            sending.cancel()
        assert (len(slow.requests), slow.outcomes) == (1, ["completed"])
        assert await deliver_due(sender, client) == 1  # its second delivery, now its slot is free
        delivered = await deliveries(people, key, slow_hook["id"])
        assert [d["status"] for d in delivered] == ["delivered"] * 2


async def test_the_background_sender_keeps_sending_while_a_receiver_is_slow(people: Overt) -> None:
    """The API's sender loop does not wait for a slow request before its next poll: a
    delivery queued while one receiver trickles reaches another receiver meanwhile."""
    site = await consent_site(people)
    await pricing_definition(people)
    key = await full_key(people)
    alice = await consented_subject(people, site, "Alice")
    bob = await consented_subject(people, site, "Bob")
    sender = tuned(people, webhook_timeout_s=120.0)
    async with trickler() as slow, receiver() as fast:
        stop = asyncio.Event()
        task = asyncio.create_task(run_webhooks(sender, stop))
        try:
            await subscribe(people, key, slow)
            await visit(people, alice, "/pricing", "/pricing")
            await slow.wait_for(1, timeout=20)
            await subscribe(people, key, fast)
            await visit(people, bob, "/pricing", "/pricing")
            await fast.wait_for(1, timeout=20)
            assert slow.held >= 1
            assert slow.outcomes == []
            payload = orjson.loads(fast.requests[0].body)
            assert payload["data"]["contact"]["subject_id"] == bob.subject_id
        finally:
            slow.release.set()
            stop.set()
            async with asyncio.timeout(20):
                await task
        assert "completed" in slow.outcomes


@settings(max_examples=300, deadline=None, derandomize=True)
@given(inner=st.ip_addresses(v=4))
def test_an_ipv6_form_of_an_ipv4_address_is_judged_by_that_address(
    inner: ipaddress.IPv4Address,
) -> None:
    """IPv4-mapped, NAT64 and 6to4 addresses reach the IPv4 host inside them: each is public
    exactly when that host is; IPv4-compatible and local-use NAT64 never are."""
    packed = int(inner)
    mapped = ipaddress.IPv6Address((0xFFFF << 32) | packed)
    nat64 = ipaddress.IPv6Address((0x64FF9B << 96) | packed)
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (packed << 80) | 1)
    for wrapped in (mapped, nat64, sixtofour):
        assert is_public(wrapped) == is_public(inner), wrapped
    assert not is_public(ipaddress.IPv6Address(packed))  # ::a.b.c.d
    assert not is_public(ipaddress.IPv6Address((0x64FF9B0001 << 80) | packed))
