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
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import orjson
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.api.people.contacts import contact_out, score_subjects
from services.api.people.exceptions import UnsafeTarget, WebhookNotFound
from services.api.people.models import (
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
    WebhookEvent,
    WebhookIn,
    WebhookOut,
)
from services.api.people.signing import signed_headers, signing_secret
from services.api.people.targets import check_target, pinned
from shared.consent_state import identification_ends_between, identified_subjects, ledger_head
from shared.dialect import insert_if_absent, upsert
from shared.metrics import WEBHOOK_ATTEMPTS
from shared.runtime import Resources
from shared.settings import Settings

PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"
NOTICE_TYPES = sorted(event.value for event in CONSENT_NOTICES)
CONSENT_ENDED = "not sent: identification consent is no longer active"
LEASE = timedelta(seconds=60)
BATCH = 50
RESPONSE_CAP = 64 * 1024  # bytes of a receiver's answer read at most

log = logging.getLogger("overt.webhooks")


# --- subscriptions --------------------------------------------------------------------------


def webhook_out(row: Any) -> WebhookOut:
    return WebhookOut(
        id=row.id,
        url=row.url,
        events=[WebhookEvent(name) for name in row.event_types.split()],
        created_at=row.created_at,
    )


async def create_subscription(
    *, engine: AsyncEngine, settings: Settings, site_id: str, body: WebhookIn
) -> tuple[WebhookOut, str]:
    """Register an endpoint; returns it with its signing secret (shown this once)."""
    url = str(body.url)
    await check_target(url, allow_private=settings.webhook_allow_private)
    webhook_id, nonce, now = secrets.token_hex(8), secrets.token_hex(16), datetime.now(UTC)
    events = sorted({event.value for event in body.events})
    async with engine.begin() as conn:
        await conn.execute(
            insert(webhook_subscriptions).values(
                id=webhook_id,
                site_id=site_id,
                url=url,
                event_types=" ".join(events),
                secret_nonce=nonce,
                created_at=now,
            )
        )
    made = WebhookOut(
        id=webhook_id, url=url, events=[WebhookEvent(e) for e in events], created_at=now
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
        return [webhook_out(row) for row in rows]


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
    """Write one delivery per subscription to the outbox; returns how many."""
    rows = []
    for subscription in subscriptions:
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


async def _subscribers(conn: AsyncConnection, site_id: str, event_type: WebhookEvent) -> list[Any]:
    rows = await conn.execute(
        select(webhook_subscriptions).where(
            webhook_subscriptions.c.site_id == site_id,
            webhook_subscriptions.c.deleted_at.is_(None),
        )
    )
    return [row for row in rows if event_type.value in row.event_types.split()]


async def scan_intent(*, engine: AsyncEngine, secret: bytes, site_id: str, now: datetime) -> int:
    """Queue `contact.intent_threshold_crossed` for consented contacts newly over the threshold
    (once per subject and definition version); returns how many contacts crossed."""
    async with engine.connect() as conn:
        if not await _subscribers(conn, site_id, WebhookEvent.intent_threshold_crossed):
            return 0
    definition, scored, _ = await score_subjects(engine=engine, site_id=site_id, secret=secret)
    crossing = [s for s in scored if s.score.has_intent]
    if not crossing:
        return 0
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
            contact = contact_out(subject).model_dump(mode="json")
            await enqueue(
                conn=conn,
                subscriptions=await _subscribers(
                    conn, site_id, WebhookEvent.intent_threshold_crossed
                ),
                event_type=WebhookEvent.intent_threshold_crossed,
                subject_id=subject.subject_id,
                data={"contact": contact},
                now=now,
            )
            crossed += 1
    return crossed


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
                    select(webhook_subscriptions)
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
            if not ended.erased:
                # The recipients stay recorded: a later erasure notifies them again.
                queued += await enqueue(
                    conn=conn,
                    subscriptions=recipients,
                    event_type=WebhookEvent.contact_withdrawn,
                    subject_id=subject_id,
                    data={"subject_id": subject_id, "reason": ended.event},
                    now=now,
                )
                continue
            queued += await enqueue(
                conn=conn,
                subscriptions=recipients,
                event_type=WebhookEvent.contact_deleted,
                subject_id=subject_id,
                data={"subject_id": subject_id, "reason": "erasure"},
                now=now,
            )
            await conn.execute(
                delete(webhook_recipients).where(
                    webhook_recipients.c.site_id == site_id,
                    webhook_recipients.c.subject_id == subject_id,
                )
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


async def _post(
    client: httpx.AsyncClient,
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    extensions: dict[str, Any],
) -> int:
    """POST and return the status; at most RESPONSE_CAP bytes of the answer are read (only its
    status matters; a short body read whole lets the connection be reused)."""
    async with client.stream(
        "POST", url, content=body, headers=headers, extensions=extensions
    ) as response:
        received = 0
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received >= RESPONSE_CAP:
                break
        return response.status_code


async def _send_one(resources: Resources, client: httpx.AsyncClient, row: Any) -> None:
    settings = resources.settings
    engine = resources.engine
    now = datetime.now(UTC)
    if row.subject_id is not None and row.event_type not in NOTICE_TYPES:
        async with engine.begin() as conn:
            consented = await identified_subjects(
                conn=conn, site_id=row.site_id, subject_ids=[row.subject_id], now=now
            )
            if row.subject_id in consented:
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
        if row.subject_id not in consented:
            await _finish(
                engine,
                row,
                now=now,
                settings=settings,
                status_code=None,
                error=CONSENT_ENDED,
                cancelled=True,
            )
            return
    body = row.payload.encode()
    timestamp = int(time.time())
    secret = signing_secret(settings.secret(), row.subscription_id, row.secret_nonce)
    status_code: int | None = None
    error: str | None = None
    headers = {
        "content-type": "application/json",
        "user-agent": "Overt-Webhooks/1",
        **signed_headers(secret, row.id, timestamp, body),
    }
    try:
        # One deadline for the whole request: httpx's timeouts are per read, and a receiver
        # trickling a byte at a time would otherwise hold a sending slot for as long as it likes.
        async with asyncio.timeout(settings.webhook_timeout_s):
            address = await check_target(row.url, allow_private=settings.webhook_allow_private)
            url, host, extensions = pinned(row.url, address)
            status_code = await _post(
                client, url, body=body, headers={**host, **headers}, extensions=extensions
            )
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
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
    """Queue new events: consent notices, and intent crossings unless `intent` is False."""
    now = datetime.now(UTC)
    async with resources.engine.connect() as conn:
        site_ids = (
            (await conn.execute(select(webhook_subscriptions.c.site_id).distinct())).scalars().all()
        )
    for site_id in site_ids:
        await scan_consent_ends(engine=resources.engine, site_id=site_id, now=now)
        if intent:
            await scan_intent(
                engine=resources.engine,
                secret=resources.settings.secret(),
                site_id=site_id,
                now=now,
            )


async def webhook_pass(
    resources: Resources, client: httpx.AsyncClient, *, intent: bool = True
) -> None:
    """One round: queue new events (see queue_notices), then send what is due and wait."""
    await queue_notices(resources, intent=intent)
    await deliver_due(resources, client)


def http_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=settings.webhook_timeout_s, follow_redirects=False)
