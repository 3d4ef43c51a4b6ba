"""Signed webhooks with a durable outbox, retries with backoff, and consent checked at send.

How a receiver verifies a request is in signing.py; where a request may go, in targets.py.

Events are written to `webhook_deliveries` (the outbox) in the transaction that decides to
send them; `run_webhooks` (tasks.py), a background task of the API, leases due rows, re-checks
identification consent (a withdrawn subject's pending events are cancelled, never sent),
POSTs them with httpx and records every attempt. Requests run concurrently (a Sender: a
global cap and a per-subscription cap), each within one total deadline and reading at most
RESPONSE_CAP bytes of the answer, so a slow receiver delays nobody else's deliveries. A
failure (a deadline missed included) is retried after retry_base * 2^(attempt - 1) until
`webhook_max_attempts`. Restarts lose nothing: the outbox is in the database and an
expired lease makes a row due again.

Consent notices: every subscription that was ever sent something about a subject (even one
deleted since) gets `contact.withdrawn` when the consent ledger records the end of that
subject's identification consent (withdrawn, expired, GPC opt-out), and `contact.deleted`
when it records the subject's erasure. The ledger is read from a durable per-site cursor, so
a notice is queued once, after a restart too. Queueing a notice cancels the subject's other
pending deliveries in the same transaction: nothing else about the subject goes out after it
(a subject who consents again is notified afresh, by new events only).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import orjson
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.api.people import hubspot, slack
from services.api.people.contacts import Scored, contact_out, identity_out, score_subjects
from services.api.people.exceptions import UnsafeTarget, WebhookNotFound
from services.api.people.models import (
    destination_alerts,
    goal_notices,
    intent_crossings,
    ledger_cursors,
    webhook_attempts,
    webhook_deliveries,
    webhook_recipients,
    webhook_subscriptions,
)
from services.api.people.schemas import (
    CONSENT_NOTICES,
    AttemptOut,
    DeliveryOut,
    DestinationKind,
    WebhookEvent,
    WebhookIn,
    WebhookOut,
)
from services.api.people.signing import signed_headers, signing_secret
from services.api.people.targets import check_target, pinned
from shared.consent_state import (
    Agreement,
    agreements,
    identification_ends_between,
    identified_subjects,
    ledger_head,
)
from shared.dialect import insert_if_absent, upsert
from shared.identities import SharedIdentity, shared_identities
from shared.metrics import WEBHOOK_ATTEMPTS
from shared.models import BUILTIN_EVENTS, events
from shared.runtime import Resources
from shared.sealing import seal, unseal
from shared.settings import Settings
from shared.sites import SiteSettings, site_settings_in

PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"
NOTICE_TYPES = sorted(event.value for event in CONSENT_NOTICES)
CONSENT_ENDED = "not sent: identification consent is no longer active"
LEASE = timedelta(seconds=60)
BATCH = 50
RESPONSE_CAP = 64 * 1024  # bytes of a receiver's answer read at most
MIN_VISITS = 2  # an intent alert needs this many visits (sessions): never one visit
MIN_SIGNALS = 2  # ... and this many signals (scored signals and matched intent rules)
GOAL_WINDOW = timedelta(days=1)  # goals are alerted when they arrive within this (the
# collector's oldest accepted client time), each once

log = logging.getLogger("overt.webhooks")


# --- subscriptions --------------------------------------------------------------------------


def sends_alerts(subscription: Any) -> bool:
    """Whether the destination gets sales alerts, one per contact per cool-down (Slack)."""
    return bool(subscription.kind == DestinationKind.slack.value)


def cooldown_seconds(subscription: Any, site: SiteSettings) -> int:
    """An alerting destination's cool-down: its own, else the site's alert_cooldown_hours."""
    own: int | None = subscription.cooldown_s
    return own if own is not None else 3600 * site.alert_cooldown_hours


def webhook_out(row: Any, site: SiteSettings) -> WebhookOut:
    return WebhookOut(
        id=row.id,
        kind=DestinationKind(row.kind),
        url=row.url,
        events=[WebhookEvent(name) for name in row.event_types.split()],
        cooldown_hours=cooldown_seconds(row, site) // 3600 if sends_alerts(row) else None,
        cooldown_from_site=sends_alerts(row) and row.cooldown_s is None,
        created_at=row.created_at,
    )


def token_context(site_id: str, subscription_id: str) -> str:
    """What a destination's sealed access token is bound to."""
    return f"destination:{site_id}:{subscription_id}"


async def create_subscription(
    *, engine: AsyncEngine, settings: Settings, site_id: str, body: WebhookIn
) -> tuple[WebhookOut, str]:
    """Register an endpoint; returns it with its signing secret (shown this once)."""
    url = str(body.url)
    await check_target(url, allow_private=settings.webhook_allow_private)
    webhook_id, nonce, now = secrets.token_hex(8), secrets.token_hex(16), datetime.now(UTC)
    events = sorted({event.value for event in body.events})
    # Unset: the site's alert_cooldown_hours applies, as it is when each alert is weighed.
    cooldown_s = None if body.cooldown_hours is None else 3600 * body.cooldown_hours
    token = None
    if body.access_token is not None:
        token = seal(
            settings.secret(),
            body.access_token.get_secret_value().encode(),
            context=token_context(site_id, webhook_id),
        )
    async with engine.begin() as conn:
        await conn.execute(
            insert(webhook_subscriptions).values(
                id=webhook_id,
                site_id=site_id,
                url=url,
                event_types=" ".join(events),
                secret_nonce=nonce,
                kind=body.kind.value,
                cooldown_s=cooldown_s,
                token_sealed=token,
                created_at=now,
            )
        )
        made = webhook_out(
            (
                await conn.execute(
                    select(webhook_subscriptions).where(webhook_subscriptions.c.id == webhook_id)
                )
            ).one(),
            await site_settings_in(conn, site_id),
        )
    return made, signing_secret(settings.secret(), webhook_id, nonce)


async def list_subscriptions(*, engine: AsyncEngine, site_id: str) -> list[WebhookOut]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(webhook_subscriptions)
            .where(
                webhook_subscriptions.c.site_id == site_id,
                webhook_subscriptions.c.deleted_at.is_(None),
            )
            .order_by(webhook_subscriptions.c.created_at, webhook_subscriptions.c.id)
        )
        site = await site_settings_in(conn, site_id)
        return [webhook_out(row, site) for row in rows]


async def delete_subscription(*, engine: AsyncEngine, site_id: str, webhook_id: str) -> None:
    """Stop sending to the endpoint; its pending events are cancelled (consent notices excepted,
    which still go to every recipient that got the subject)."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        result = await conn.execute(
            update(webhook_subscriptions)
            .where(
                webhook_subscriptions.c.id == webhook_id,
                webhook_subscriptions.c.site_id == site_id,
                webhook_subscriptions.c.deleted_at.is_(None),
            )
            .values(deleted_at=now)
        )
        if not result.rowcount:
            raise WebhookNotFound()
        await conn.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.subscription_id == webhook_id,
                webhook_deliveries.c.status == PENDING,
                webhook_deliveries.c.event_type.not_in(NOTICE_TYPES),
            )
            .values(status=CANCELLED, finished_at=now)
        )


async def delivery_log(
    *, engine: AsyncEngine, site_id: str, webhook_id: str, limit: int = 100
) -> list[DeliveryOut]:
    """The subscription's latest deliveries, each with every attempt."""
    async with engine.connect() as conn:
        owner = await conn.execute(
            select(webhook_subscriptions.c.id).where(
                webhook_subscriptions.c.id == webhook_id,
                webhook_subscriptions.c.site_id == site_id,
            )
        )
        if owner.first() is None:
            raise WebhookNotFound()
        rows = (
            await conn.execute(
                select(webhook_deliveries)
                .where(webhook_deliveries.c.subscription_id == webhook_id)
                .order_by(webhook_deliveries.c.created_at.desc(), webhook_deliveries.c.id)
                .limit(limit)
            )
        ).all()
        attempts: dict[str, list[AttemptOut]] = {row.id: [] for row in rows}
        if rows:
            for attempt in await conn.execute(
                select(webhook_attempts)
                .where(webhook_attempts.c.delivery_id.in_(list(attempts)))
                .order_by(webhook_attempts.c.attempt)
            ):
                attempts[attempt.delivery_id].append(
                    AttemptOut(
                        attempt=attempt.attempt,
                        attempted_at=attempt.attempted_at,
                        status_code=attempt.status_code,
                        error=attempt.error,
                    )
                )
    return [
        DeliveryOut(
            id=row.id,
            event_type=row.event_type,
            status=row.status,
            attempts=row.attempts,
            created_at=row.created_at,
            next_attempt_at=row.next_attempt_at if row.status == PENDING else None,
            finished_at=row.finished_at,
            log=attempts[row.id],
        )
        for row in rows
    ]


# --- the outbox -----------------------------------------------------------------------------


async def enqueue(
    *,
    conn: AsyncConnection,
    subscriptions: Sequence[Any],
    event_type: WebhookEvent,
    subject_id: str | None,
    data: dict[str, Any],
    now: datetime,
) -> int:
    """Write one delivery per subscription to the outbox; returns how many.

    An alert to a destination with a cool-down (Slack) is left out when that destination
    alerted about the subject within it: one alert per contact per cool-down."""
    rows = []
    for subscription in subscriptions:
        alert = subject_id is not None and event_type not in CONSENT_NOTICES
        if alert and not await _cooled_down(conn, subscription, subject_id or "", now):
            continue
        delivery_id = secrets.token_hex(12)
        payload = {
            "id": delivery_id,
            "type": event_type.value,
            "site_id": subscription.site_id,
            "created_at": now.isoformat(),
            "data": data,
        }
        rows.append(
            {
                "id": delivery_id,
                "subscription_id": subscription.id,
                "site_id": subscription.site_id,
                "event_type": event_type.value,
                "subject_id": subject_id,
                "payload": orjson.dumps(payload).decode(),
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if rows:
        await conn.execute(insert(webhook_deliveries), rows)
    return len(rows)


async def _cooled_down(
    conn: AsyncConnection, subscription: Any, subject_id: str, now: datetime
) -> bool:
    """Whether the destination may alert about the subject now; if so, the alert is noted."""
    if not sends_alerts(subscription):
        return True
    cooldown_s = cooldown_seconds(subscription, await site_settings_in(conn, subscription.site_id))
    last = (
        await conn.execute(
            select(destination_alerts.c.alerted_at).where(
                destination_alerts.c.subscription_id == subscription.id,
                destination_alerts.c.subject_id == subject_id,
            )
        )
    ).scalar()
    if last is not None and last > now - timedelta(seconds=cooldown_s):
        return False
    await upsert(
        conn,
        destination_alerts,
        [{"subscription_id": subscription.id, "subject_id": subject_id, "alerted_at": now}],
        keys=["subscription_id", "subject_id"],
        replace=["alerted_at"],
    )
    return True


async def _subscribers(conn: AsyncConnection, site_id: str, event_type: WebhookEvent) -> list[Any]:
    rows = await conn.execute(
        select(webhook_subscriptions).where(
            webhook_subscriptions.c.site_id == site_id,
            webhook_subscriptions.c.deleted_at.is_(None),
        )
    )
    return [row for row in rows if event_type.value in row.event_types.split()]


def stored_contact(scored: Scored) -> dict[str, Any]:
    """A contact as the outbox keeps it: without its identity, which is read again and added
    when the delivery is sent (only while consent lasts), so no outbox row ever holds an
    e-mail address or a name that a withdrawal or an erasure would have to find."""
    return contact_out(scored).model_dump(mode="json") | {"identity": None}


def with_identity(payload: dict[str, Any], identity: SharedIdentity | None) -> bytes:
    """The body of a delivery as sent: its stored payload, the contact named as it is now."""
    contact = payload["data"].get("contact")
    if contact is not None:
        named = identity_out(identity)
        contact["identity"] = None if named is None else named.model_dump(mode="json")
    return orjson.dumps(payload)


def alert_worthy(scored: Scored) -> bool:
    """Intent worth a sales alert: the site's intent rule matched over at least MIN_VISITS
    visits (sessions) with at least MIN_SIGNALS scored signals; never one visit."""
    signals = sum(1 for c in scored.score.contributions if c.points > 0)
    return (
        scored.score.has_intent
        and scored.summary.sessions >= MIN_VISITS
        and signals + len(scored.score.intent_signals) >= MIN_SIGNALS
    )


async def scan_intent(*, engine: AsyncEngine, secret: bytes, site_id: str, now: datetime) -> int:
    """Queue `contact.intent_threshold_crossed` for consented contacts newly over the threshold
    (once per subject and definition version); returns how many contacts crossed.

    An alerting destination (Slack) is told separately: about a contact whose intent is
    alert-worthy (see alert_worthy) and has been active since that destination's last alert
    about it, at most once per its cool-down."""
    async with engine.connect() as conn:
        subscribers = await _subscribers(conn, site_id, WebhookEvent.intent_threshold_crossed)
    if not subscribers:
        return 0
    definition, scored, _ = await score_subjects(engine=engine, site_id=site_id, secret=secret)
    crossing = [s for s in scored if s.score.has_intent]
    if not crossing:
        return 0
    if any(sends_alerts(row) for row in subscribers):
        await _alert_intent(engine, site_id, [s for s in crossing if alert_worthy(s)], now)
    async with engine.connect() as conn:
        known = set(
            (
                await conn.execute(
                    select(intent_crossings.c.subject_id).where(
                        intent_crossings.c.site_id == site_id,
                        intent_crossings.c.definition_version == definition.version,
                    )
                )
            ).scalars()
        )
    crossed = 0
    for subject in crossing:
        if subject.subject_id in known:
            continue
        async with engine.begin() as conn:
            new = await insert_if_absent(
                conn,
                intent_crossings,
                {
                    "site_id": site_id,
                    "subject_id": subject.subject_id,
                    "definition_version": definition.version,
                    "crossed_at": now,
                },
            )
            if not new:
                continue  # another replica got there first
            notified = await _subscribers(conn, site_id, WebhookEvent.intent_threshold_crossed)
            await enqueue(
                conn=conn,
                subscriptions=[row for row in notified if not sends_alerts(row)],
                event_type=WebhookEvent.intent_threshold_crossed,
                subject_id=subject.subject_id,
                data={"contact": stored_contact(subject)},
                now=now,
            )
            crossed += 1
    return crossed


async def _alert_intent(
    engine: AsyncEngine, site_id: str, worthy: Sequence[Scored], now: datetime
) -> None:
    """Alerts about alert-worthy contacts active since the destination's last alert."""
    for subject in worthy:
        last_seen = subject.summary.last_seen_at
        async with engine.begin() as conn:
            alerting = [
                row
                for row in await _subscribers(conn, site_id, WebhookEvent.intent_threshold_crossed)
                if sends_alerts(row)
            ]
            if not alerting or last_seen is None:
                continue
            alerted = {
                row.subscription_id: row.alerted_at
                for row in await conn.execute(
                    select(destination_alerts).where(
                        destination_alerts.c.subject_id == subject.subject_id,
                        destination_alerts.c.subscription_id.in_([row.id for row in alerting]),
                    )
                )
            }
            await enqueue(
                conn=conn,
                subscriptions=[
                    row for row in alerting if row.id not in alerted or alerted[row.id] < last_seen
                ],
                event_type=WebhookEvent.intent_threshold_crossed,
                subject_id=subject.subject_id,
                data={"contact": stored_contact(subject)},
                now=now,
            )


async def scan_goals(*, engine: AsyncEngine, secret: bytes, site_id: str, now: datetime) -> int:
    """Queue `contact.goal_completed` for goals a consented contact reached in the last
    GOAL_WINDOW (each goal event once); returns how many goal events were new."""
    async with engine.connect() as conn:
        if not await _subscribers(conn, site_id, WebhookEvent.goal_completed):
            return 0
        since = now - GOAL_WINDOW
        rows = (
            await conn.execute(
                select(
                    events.c.event_id,
                    events.c.subject_id,
                    events.c.name,
                    events.c.occurred_at,
                    events.c.host,
                    events.c.path,
                )
                .outerjoin(
                    goal_notices,
                    (goal_notices.c.site_id == events.c.site_id)
                    & (goal_notices.c.event_id == events.c.event_id),
                )
                .where(
                    events.c.site_id == site_id,
                    events.c.subject_id.is_not(None),
                    events.c.name.not_in(sorted(BUILTIN_EVENTS)),
                    events.c.occurred_at >= since,
                    goal_notices.c.event_id.is_(None),
                )
                .order_by(events.c.occurred_at)
            )
        ).all()
    if not rows:
        return 0
    _, scored, _ = await score_subjects(
        engine=engine, site_id=site_id, subject_ids={row.subject_id for row in rows}, secret=secret
    )
    contacts = {s.subject_id: s for s in scored}
    new = 0
    for row in rows:
        async with engine.begin() as conn:
            if not await insert_if_absent(
                conn,
                goal_notices,
                {"site_id": site_id, "event_id": row.event_id, "noticed_at": now},
            ):
                continue
            new += 1
            subject = contacts.get(row.subject_id)
            if subject is None:
                continue  # consent ended since: nothing is said about it
            await enqueue(
                conn=conn,
                subscriptions=await _subscribers(conn, site_id, WebhookEvent.goal_completed),
                event_type=WebhookEvent.goal_completed,
                subject_id=row.subject_id,
                data={
                    "contact": stored_contact(subject),
                    "goal": {
                        "name": row.name,
                        "occurred_at": row.occurred_at.isoformat(),
                        "page": f"{row.host}{row.path}",
                    },
                },
                now=now,
            )
    async with engine.begin() as conn:
        await conn.execute(
            delete(goal_notices).where(
                goal_notices.c.site_id == site_id, goal_notices.c.noticed_at < since
            )
        )
    return new


async def cancel_pending(
    conn: AsyncConnection, *, site_id: str, subject_id: str, now: datetime, why: str
) -> int:
    """Cancel the subject's pending deliveries (consent notices excepted), each with a line in
    the delivery log; returns how many. A delivery a sender holds a lease on is cancelled
    too, and that sender logs its own attempt (its finish leaves the status cancelled)."""
    rows = (
        await conn.execute(
            select(
                webhook_deliveries.c.id,
                webhook_deliveries.c.attempts,
                webhook_deliveries.c.lease_until,
            ).where(
                webhook_deliveries.c.site_id == site_id,
                webhook_deliveries.c.subject_id == subject_id,
                webhook_deliveries.c.status == PENDING,
                webhook_deliveries.c.event_type.not_in(NOTICE_TYPES),
            )
        )
    ).all()
    for row in rows:
        await conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == row.id)
            .values(status=CANCELLED, finished_at=now)
        )
        if row.lease_until is not None and row.lease_until > now:
            continue
        await conn.execute(
            insert(webhook_attempts).values(
                delivery_id=row.id,
                attempt=row.attempts + 1,
                attempted_at=now,
                status_code=None,
                error=why,
            )
        )
    return len(rows)


async def scan_consent_ends(*, engine: AsyncEngine, site_id: str, now: datetime) -> int:
    """Queue consent notices (see the module docstring) for the ledger rows since the site's
    cursor, to every subscription that got the subject (even deleted ones), cancelling the
    subject's other pending deliveries; returns how many notices were queued."""
    queued = 0
    async with engine.begin() as conn:
        cursor = (
            await conn.execute(
                select(ledger_cursors.c.seq).where(ledger_cursors.c.site_id == site_id)
            )
        ).scalar()
        after = int(cursor or 0)
        head = await ledger_head(conn=conn, site_id=site_id)
        if head <= after:
            return 0
        for ended in await identification_ends_between(
            conn=conn, site_id=site_id, after_seq=after, through_seq=head
        ):
            subject_id = ended.subject_id
            await cancel_pending(
                conn,
                site_id=site_id,
                subject_id=subject_id,
                now=now,
                why="not sent: the subject was erased" if ended.erased else CONSENT_ENDED,
            )
            recipients = (
                await conn.execute(
                    select(webhook_subscriptions, webhook_recipients.c.remote_id)
                    .join(
                        webhook_recipients,
                        webhook_recipients.c.subscription_id == webhook_subscriptions.c.id,
                    )
                    .where(
                        webhook_recipients.c.site_id == site_id,
                        webhook_recipients.c.subject_id == subject_id,
                    )
                )
            ).all()
            notice, reason = (
                (WebhookEvent.contact_deleted, "erasure")
                if ended.erased
                else (WebhookEvent.contact_withdrawn, ended.event)
            )
            for recipient in recipients:
                data: dict[str, Any] = {"subject_id": subject_id, "reason": reason}
                if recipient.remote_id is not None:
                    data["remote_id"] = recipient.remote_id  # the CRM's id, to delete it there
                queued += await enqueue(
                    conn=conn,
                    subscriptions=[recipient],
                    event_type=notice,
                    subject_id=subject_id,
                    data=data,
                    now=now,
                )
            if not ended.erased:
                continue  # the recipients stay recorded: a later erasure notifies them again
            await conn.execute(
                delete(webhook_recipients).where(
                    webhook_recipients.c.site_id == site_id,
                    webhook_recipients.c.subject_id == subject_id,
                )
            )
            await conn.execute(
                delete(destination_alerts).where(destination_alerts.c.subject_id == subject_id)
            )
        await upsert(
            conn,
            ledger_cursors,
            [{"site_id": site_id, "seq": head}],
            keys=["site_id"],
            replace=["seq"],
        )
    return queued


async def lease_due(
    engine: AsyncEngine,
    now: datetime,
    *,
    limit: int = BATCH,
    per_subscription: int = BATCH,
    in_flight: Mapping[str, int] | None = None,
    lease: timedelta = LEASE,
) -> list[Any]:
    """Lease up to `limit` due deliveries, oldest first, at most `per_subscription` per
    subscription counting the `in_flight` ones (a lease a crashed sender left expires by
    itself). Only what can be sent at once is leased, so no lease ages in a queue."""
    in_flight = in_flight or {}
    full = [sid for sid, count in in_flight.items() if count >= per_subscription]
    due_rows = [
        webhook_deliveries.c.status == PENDING,
        webhook_deliveries.c.next_attempt_at <= now,
        or_(webhook_deliveries.c.lease_until.is_(None), webhook_deliveries.c.lease_until < now),
    ]
    if full:
        due_rows.append(webhook_deliveries.c.subscription_id.not_in(full))
    ranked = (
        select(
            webhook_deliveries.c.id,
            webhook_deliveries.c.subscription_id,
            webhook_deliveries.c.next_attempt_at,
            func.row_number()
            .over(
                partition_by=webhook_deliveries.c.subscription_id,
                order_by=(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id),
            )
            .label("rank"),
        )
        .where(*due_rows)
        .subquery()
    )
    async with engine.connect() as conn:
        candidates = (
            await conn.execute(
                select(ranked.c.id, ranked.c.subscription_id)
                .where(ranked.c.rank <= per_subscription)
                .order_by(ranked.c.next_attempt_at, ranked.c.id)
                .limit(limit + sum(in_flight.values()))
            )
        ).all()
    due: list[str] = []
    taken = dict(in_flight)
    for candidate in candidates:
        if len(due) >= limit:
            break
        if taken.get(candidate.subscription_id, 0) < per_subscription:
            taken[candidate.subscription_id] = taken.get(candidate.subscription_id, 0) + 1
            due.append(candidate.id)
    claimed = []
    for delivery_id in due:
        async with engine.begin() as conn:
            result = await conn.execute(
                update(webhook_deliveries)
                .where(
                    webhook_deliveries.c.id == delivery_id,
                    webhook_deliveries.c.status == PENDING,
                    or_(
                        webhook_deliveries.c.lease_until.is_(None),
                        webhook_deliveries.c.lease_until < now,
                    ),
                )
                .values(lease_until=now + lease)
            )
            if not result.rowcount:
                continue
            row = (
                await conn.execute(
                    select(
                        webhook_deliveries,
                        webhook_subscriptions.c.url,
                        webhook_subscriptions.c.secret_nonce,
                        webhook_subscriptions.c.kind,
                        webhook_subscriptions.c.token_sealed,
                    )
                    .join(
                        webhook_subscriptions,
                        webhook_subscriptions.c.id == webhook_deliveries.c.subscription_id,
                    )
                    .where(webhook_deliveries.c.id == delivery_id)
                )
            ).one()
            claimed.append(row)
    return claimed


async def _finish(
    engine: AsyncEngine,
    row: Any,
    *,
    now: datetime,
    settings: Settings,
    status_code: int | None,
    error: str | None,
    cancelled: bool = False,
) -> None:
    """Record the attempt and move the delivery on (delivered, retried later, failed)."""
    attempt = row.attempts + 1
    ok = status_code is not None and 200 <= status_code < 300
    values: dict[str, Any] = {"attempts": attempt, "lease_until": None}
    outcome: str | None = None  # the attempt's label in overt_webhook_attempts
    if cancelled:
        values.update(status=CANCELLED, finished_at=now, attempts=row.attempts)
    elif ok:
        values.update(status=DELIVERED, finished_at=now)
        outcome = "delivered"
    elif attempt >= settings.webhook_max_attempts:
        values.update(status=FAILED, finished_at=now)
        outcome = "failed"
    else:
        delay = settings.webhook_retry_base_s * 2 ** (attempt - 1)
        values.update(next_attempt_at=now + timedelta(seconds=delay))
        outcome = "retry"
    async with engine.begin() as conn:
        # A delivery cancelled while it was in flight (its subject's consent ended) stays so.
        await conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == row.id, webhook_deliveries.c.status == PENDING)
            .values(**values)
        )
        await conn.execute(
            insert(webhook_attempts).values(
                delivery_id=row.id,
                attempt=attempt,
                attempted_at=now,
                status_code=status_code,
                error=error,
            )
        )
    if outcome is not None:
        WEBHOOK_ATTEMPTS.labels(outcome).inc()


async def _request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    body: bytes | None,
    headers: dict[str, str],
    extensions: dict[str, Any],
) -> tuple[int, bytes]:
    """Send and return the status and the answer's first RESPONSE_CAP bytes (at most that
    much is read; a short body read whole lets the connection be reused)."""
    async with client.stream(
        method, url, content=body, headers=headers, extensions=extensions
    ) as response:
        answer = bytearray()
        async for chunk in response.aiter_raw():
            answer += chunk
            if len(answer) >= RESPONSE_CAP:
                break
        return response.status_code, bytes(answer[:RESPONSE_CAP])


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One request a delivery makes, and what to keep from a 2xx answer (a CRM's id)."""

    method: str
    url: str
    body: bytes | None
    headers: dict[str, str]
    keep_remote_id: bool = False


JSON_HEADERS = {"content-type": "application/json", "user-agent": "Overt-Webhooks/1"}
NOT_CONTACTABLE = "not sent: the contact did not agree to be contacted"
UNNAMED = "not sent: the contact has not shared who they are"
NO_REMOTE_ID = "not sent: the CRM never answered an id for this contact"


async def _recipient_view(
    conn: AsyncConnection, row: Any, secret: bytes, now: datetime
) -> tuple[SharedIdentity | None, list[Agreement]] | None:
    """The subject as a destination may see it now, or None when its consent has ended: the
    identity it shared and what it agreed to, read with its consent in one transaction."""
    consented = await identified_subjects(
        conn=conn, site_id=row.site_id, subject_ids=[row.subject_id], now=now
    )
    if row.subject_id not in consented:
        return None
    named = await shared_identities(
        conn=conn, secret=secret, site_id=row.site_id, subject_ids=[row.subject_id], now=now
    )
    agreed = await agreements(conn=conn, site_id=row.site_id, subject_id=row.subject_id, now=now)
    return named.get(row.subject_id), agreed


def _outgoing(
    row: Any,
    settings: Settings,
    view: tuple[SharedIdentity | None, list[Agreement]] | None,
) -> Outgoing | str:
    """The request of a delivery for its destination's kind, or why it is not sent."""
    payload = orjson.loads(row.payload)
    data = payload["data"]
    notice = row.event_type in NOTICE_TYPES
    json_headers = dict(JSON_HEADERS)
    if row.kind == DestinationKind.webhook.value:
        body = with_identity(payload, view[0] if view is not None else None)
        secret = signing_secret(settings.secret(), row.subscription_id, row.secret_nonce)
        signed = signed_headers(secret, row.id, int(time.time()), body)
        return Outgoing("POST", row.url, body, {**json_headers, **signed})
    if notice:
        if row.kind == DestinationKind.slack.value:
            message = slack.consent_ended(
                event_type=row.event_type, subject_id=data["subject_id"], reason=data["reason"]
            )
            return Outgoing("POST", row.url, orjson.dumps(message), json_headers)
        if data.get("remote_id") is None:
            return NO_REMOTE_ID
        crm = hubspot.remove(data["remote_id"], erased=row.event_type == "contact.deleted")
        return _crm(row, settings, crm)
    identity, agreed = view if view is not None else (None, [])
    if identity is None:
        return UNNAMED
    if row.kind == DestinationKind.slack.value:
        goal = data.get("goal")
        if goal is None and not any(a.invites_contact for a in agreed):
            return NOT_CONTACTABLE  # an intent alert invites outreach: only with a yes to it
        link = f"{settings.base_url}/v1/sites/{row.site_id}/contacts/{row.subject_id}"
        message = slack.alert(
            event_type=row.event_type,
            identity=identity,
            agreed=agreed,
            contact=data["contact"],
            goal=goal,
            link=link,
        )
        return Outgoing("POST", row.url, orjson.dumps(message), json_headers)
    return _crm(row, settings, hubspot.upsert(identity, data["contact"]))


def _crm(row: Any, settings: Settings, crm: hubspot.CrmRequest) -> Outgoing:
    token = unseal(
        settings.secret(), row.token_sealed, context=token_context(row.site_id, row.subscription_id)
    ).decode()
    headers = {**JSON_HEADERS, "authorization": f"Bearer {token}"}
    url = row.url.rstrip("/") + crm.path
    return Outgoing(crm.method, url, crm.body, headers, keep_remote_id=crm.path == hubspot.UPSERT)


async def _send_one(resources: Resources, client: httpx.AsyncClient, row: Any) -> None:
    settings = resources.settings
    engine = resources.engine
    now = datetime.now(UTC)
    view = None
    if row.subject_id is not None and row.event_type not in NOTICE_TYPES:
        async with engine.begin() as conn:
            view = await _recipient_view(conn, row, settings.secret(), now)
            prepared = _outgoing(row, settings, view) if view is not None else CONSENT_ENDED
            if not isinstance(prepared, str):
                # Recorded before sending: an erasure during the request still notifies.
                await insert_if_absent(
                    conn,
                    webhook_recipients,
                    {
                        "subscription_id": row.subscription_id,
                        "subject_id": row.subject_id,
                        "site_id": row.site_id,
                        "first_sent_at": now,
                    },
                )
    else:
        prepared = _outgoing(row, settings, None)
    if isinstance(prepared, str):
        await _finish(
            engine,
            row,
            now=now,
            settings=settings,
            status_code=None,
            error=prepared,
            cancelled=True,
        )
        return
    status_code: int | None = None
    error: str | None = None
    try:
        # One deadline for the whole request: httpx's timeouts are per read, and a receiver
        # trickling a byte at a time would otherwise hold a sending slot for as long as it likes.
        async with asyncio.timeout(settings.webhook_timeout_s):
            address = await check_target(prepared.url, allow_private=settings.webhook_allow_private)
            url, host, extensions = pinned(prepared.url, address)
            status_code, answer = await _request(
                client,
                prepared.method,
                url,
                body=prepared.body,
                headers={**host, **prepared.headers},
                extensions=extensions,
            )
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
        elif prepared.keep_remote_id and (remote_id := hubspot.object_id(answer)) is not None:
            async with engine.begin() as conn:
                await conn.execute(
                    update(webhook_recipients)
                    .where(
                        webhook_recipients.c.subscription_id == row.subscription_id,
                        webhook_recipients.c.subject_id == row.subject_id,
                    )
                    .values(remote_id=remote_id)
                )
    except UnsafeTarget as exc:
        error = exc.detail
    except TimeoutError:
        status_code = None
        error = f"no complete answer within the {settings.webhook_timeout_s:g} s deadline"
    except httpx.HTTPError as exc:
        error = type(exc).__name__
    await _finish(engine, row, now=now, settings=settings, status_code=status_code, error=error)


class Sender:
    """The deliveries in flight, sent concurrently: at most `webhook_concurrency` in all and
    `webhook_subscription_concurrency` to one subscription, each request within its
    deadline. A slow receiver holds only its own subscription's slots, so every other
    subscription's deliveries (consent notices included) go out meanwhile."""

    def __init__(self, resources: Resources, client: httpx.AsyncClient) -> None:
        self.resources = resources
        self.client = client
        self.in_flight: dict[str, set[asyncio.Task[None]]] = {}

    def _counts(self) -> dict[str, int]:
        return {sid: len(tasks) for sid, tasks in self.in_flight.items()}

    async def dispatch(self, now: datetime | None = None) -> int:
        """Lease what the free slots allow and start sending it; returns how many started."""
        settings = self.resources.settings
        room = settings.webhook_concurrency - sum(self._counts().values())
        if room <= 0:
            return 0
        rows = await lease_due(
            self.resources.engine,
            now or datetime.now(UTC),
            limit=min(room, BATCH),
            per_subscription=settings.webhook_subscription_concurrency,
            in_flight=self._counts(),
            # Held past the request's deadline, so no other sender takes it up meanwhile.
            lease=LEASE + timedelta(seconds=settings.webhook_timeout_s),
        )
        for row in rows:
            task = asyncio.create_task(_send_one(self.resources, self.client, row))
            self.in_flight.setdefault(row.subscription_id, set()).add(task)
            task.add_done_callback(partial(self._done, row.subscription_id, row.id))
        return len(rows)

    def _done(self, subscription_id: str, delivery_id: str, task: asyncio.Task[None]) -> None:
        tasks = self.in_flight.get(subscription_id, set())
        tasks.discard(task)
        if not tasks:
            self.in_flight.pop(subscription_id, None)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # The lease expires and the delivery is tried again; never log the payload.
            log.error("webhook delivery %s failed: %s", delivery_id, type(exc).__name__)

    async def drain(self) -> None:
        """Wait for every request in flight (each ends by its deadline)."""
        while self.in_flight:
            tasks = [task for group in self.in_flight.values() for task in group]
            await asyncio.gather(*tasks, return_exceptions=True)


async def deliver_due(
    resources: Resources, client: httpx.AsyncClient, *, now: datetime | None = None
) -> int:
    """Send what is due, as far as the concurrency limits allow, and wait for the answers;
    returns how many were attempted."""
    sender = Sender(resources, client)
    try:
        return await sender.dispatch(now)
    finally:
        await sender.drain()


async def queue_notices(resources: Resources, *, intent: bool = True) -> None:
    """Queue new events: consent notices, and unless `intent` is False (the costly scans,
    every webhook_intent_scan_s) intent crossings and goals."""
    now = datetime.now(UTC)
    secret = resources.settings.secret()
    async with resources.engine.connect() as conn:
        site_ids = (
            (await conn.execute(select(webhook_subscriptions.c.site_id).distinct())).scalars().all()
        )
    for site_id in site_ids:
        await scan_consent_ends(engine=resources.engine, site_id=site_id, now=now)
        if intent:
            await scan_intent(engine=resources.engine, secret=secret, site_id=site_id, now=now)
            await scan_goals(engine=resources.engine, secret=secret, site_id=site_id, now=now)


async def webhook_pass(
    resources: Resources, client: httpx.AsyncClient, *, intent: bool = True
) -> None:
    """One round: queue new events (see queue_notices), then send what is due and wait."""
    await queue_notices(resources, intent=intent)
    await deliver_due(resources, client)


def http_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=settings.webhook_timeout_s, follow_redirects=False)
