"""The ingest worker: queue -> database in batches, idempotent by event id, ack after commit.

Per batch, in this order:
1. prepare (prepare_batch, while the batch before is still being finished): decode, drop
   copies within the batch and ids the batch in flight holds; take the open sessions this
   worker keeps in memory (OpenSessions) and read the others, the sessions of stored
   pageviews its engagement events refer to.
   Ids already stored are not looked up, except when the batch is prepared again (below).
2. stage (stage_batch), in a new transaction: sessionise the events in time order a slice
   at a time, each slice's `events` rows sent (COPY on Postgres) while the next is made.
3. finish (finish_batch), in the same transaction: claim the events' ids in `event_ids`;
   if any is taken (a redelivery, another writer), roll everything back and prepare the
   batch again, this time dropping ids already stored. Then count the visitors new to
   their day, insert the new sessions, update the stored ones (or log their changes: the
   ingest loop with OVERT_SESSION_FOLD_MS above 0, see session_log), add to the hourly
   rollups, check that this worker still holds the lease of every slice the batch came
   from (else roll back), and commit.
4. acknowledge (commit_batch), only after the commit, so a crash anywhere means a
   redelivery, and the redelivery changes nothing that was already committed; then keep
   the batch's sessions in memory for the next batches of the same visitors.
5. between batches, when the queue runs dry or OVERT_SESSION_FOLD_MS has passed, fold any
   logged session changes into `sessions`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.collector.faults import is_entry_fault, isolate_faults
from services.collector.links import recheck_links
from services.collector.records import EVENT_COLUMNS, DecodedEvent, decode_entry
from services.collector.session_log import FOLD_SESSIONS, fold_changes, log_changes
from services.collector.sessions import (
    SESSION_GAP,
    OpenSessions,
    Session,
    Sessioniser,
    add_visitor_counts,
    epoch_ms,
    from_epoch_ms,
    visitor_keys,
)
from shared.consent_tokens import RevocationNotifier
from shared.deadletter import open_dead_letters
from shared.dialect import (
    CLAIM_COLUMNS,
    claim_event_ids,
    existing_keys,
    in_clauses,
    insert_new_returning,
    is_duplicate_key,
    select_matching,
    streaming_insert,
    update_rows,
    upsert,
)
from shared.metrics import INGEST_BATCH_EVENTS, INGEST_EVENTS, INGEST_WRITE_SECONDS
from shared.models import (
    daily_dirty,
    event_ids,
    events,
    page_hourly,
    page_visitor_days,
    sessions,
    site_hourly,
    visitor_days,
)
from shared.queue import (
    Delivery,
    EventQueue,
    LeaseLost,
    RedisStreamQueue,
    SliceLeases,
    visitor_slice,
)
from shared.runtime import Resources

log = logging.getLogger("overt.worker")

RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
SESSION_COLUMNS = [c.name for c in sessions.columns if c.name != "session_id"]
# An `events` row's (event_id, occurred_at, session_id): its claim in the event_ids register.
CLAIM = itemgetter(*(EVENT_COLUMNS.index(name) for name in CLAIM_COLUMNS))
# Events sessionised (and their rows made) per slice of a batch, while the slice before is
# stored: small enough that storing starts early, large enough that handing a slice over
# costs little.
STAGE_SLICE = 4_000


def queued_events(deliveries: Sequence[Delivery]) -> dict[str, DecodedEvent]:
    """Decode queue entries (each a JSON array of records) into events to store, by hex id.

    Duplicates inside one batch are dropped here (copies of one id are one event, resent;
    the last is kept); across batches the event_ids register drops them.
    """
    return {
        event.event_id: event for delivery in deliveries for event in decode_entry(delivery.payload)
    }


async def _open_sessions(
    conn: AsyncConnection, keys: set[tuple[str, int]], since: datetime
) -> dict[tuple[str, int], Session]:
    """The latest session per (site, visitor) that was still going at `since`."""
    by_site: dict[str, list[int]] = defaultdict(list)
    for site_id, visitor in keys:
        by_site[site_id].append(visitor)
    latest: dict[tuple[str, int], Session] = {}
    for site_id, visitors in by_site.items():
        rows = await select_matching(
            conn,
            sessions,
            equal={"site_id": site_id},
            any_of=("visitor_hash", visitors),
            at_least={"last_seen_at": since},
        )
        for row in rows:
            session = Session.from_row(row)
            key = (site_id, session.visitor_hash)
            if key not in latest or session.last_ms > latest[key].last_ms:
                latest[key] = session
    return latest


async def _pageview_sessions(
    conn: AsyncConnection, pageview_ids: Sequence[str]
) -> dict[str, uuid.UUID]:
    """The sessions of stored pageviews, by their hex ids."""
    owners: dict[str, uuid.UUID] = {}
    ids = [uuid.UUID(hex=pageview) for pageview in pageview_ids]
    for clause in in_clauses(conn, event_ids.c.event_id, ids):
        result = await conn.execute(
            select(event_ids.c.event_id, event_ids.c.session_id).where(
                clause, event_ids.c.session_id.is_not(None)
            )
        )
        owners.update({row.event_id.hex: row.session_id for row in result})
    return owners


@dataclass(slots=True)
class Carry:
    """What the batch being written changes, for preparing the next batch meanwhile.

    While batch N is finished (finish_batch), batch N+1 is decoded and its open sessions
    read; the database does not show N's sessions, pageviews and ids yet, so they come from
    here. N+1 is sessionised only once N has committed (if N fails, N+1 is prepared again
    with it). Only N's effects are carried: when N+2 is prepared, N is committed and visible.
    """

    sessions: dict[tuple[str, int], Session] = field(default_factory=dict)
    event_ids: Collection[str] = frozenset()  # hex ids
    claims: Sequence[tuple[Any, Any, Any]] = ()  # (hex id, moment, session id), see CLAIM
    _sessions: dict[str, uuid.UUID] | None = None  # session ids by hex id, made when asked

    def pageview_session(self, pageview_id: str) -> uuid.UUID | None:
        """The session of one of these events (a pageview, as engagement events refer to),
        as the event_ids register will hold it. The lookup is made on the first question:
        a batch of pageviews alone is never asked one."""
        if self._sessions is None:
            self._sessions = {
                event_id: session_id
                for event_id, _, session_id in self.claims
                if session_id is not None
            }
        return self._sessions.get(pageview_id)


@dataclass(slots=True)
class PreparedBatch:
    """A batch ready to sessionise and write: its new events in time order, and what
    sessionising them needs from the database and the carry."""

    deliveries: Sequence[Delivery]
    rows: list[DecodedEvent]
    open_sessions: dict[tuple[str, int], Session] = field(default_factory=dict)
    pageview_sessions: dict[str, uuid.UUID] = field(default_factory=dict)  # by hex id
    referred: Collection[str] = frozenset()  # its own pageviews its engagement events name
    event_ids: Collection[str] = frozenset()  # the rows' hex ids
    received: int = 0  # distinct events in the deliveries, new or already stored
    verified: bool = False  # events already stored were dropped (see prepare_batch)


class ConcurrentWrite(Exception):
    """Another writer stored some of this batch's events after it was prepared."""


async def prepare_batch(
    *,
    engine: AsyncEngine,
    deliveries: Sequence[Delivery],
    carry: Carry,
    verify: bool = False,
    revocations: RevocationNotifier | None = None,
    known: OpenSessions | None = None,
) -> PreparedBatch:
    """Decode, drop what is being stored, and read what sessionising the rest needs.

    Events already stored are dropped here only with `verify`. Without it the batch is
    assumed new, which it is unless it was delivered before (a crash, a client resend):
    then claiming its ids fails, nothing is written (ConcurrentWrite), and the batch is
    prepared again with `verify`. That saves looking up every id of every batch.
    Open sessions in `known` are taken from it; only the other visitors' are read.
    """
    unique = queued_events(deliveries)
    received = len(unique)
    if carry.event_ids:
        for event_id in unique.keys() & carry.event_ids:
            del unique[event_id]
    async with engine.connect() as conn:
        if verify:
            ids = [uuid.UUID(hex=event_id) for event_id in unique]
            for stored in await existing_keys(conn, event_ids.c.event_id, ids):
                del unique[stored.hex]
        if not unique:
            return PreparedBatch(deliveries, [], received=received, verified=verify)
        new = list(unique.values())
        await recheck_links(conn=conn, rows=new, revocations=revocations)
        in_batch = unique.keys()
        earliest = from_epoch_ms(min(row.at for row in new)) - SESSION_GAP
        # Pageviews the batch's engagement events refer to: its own, and stored ones (those
        # of the batch in flight come from the carry).
        referred = {row.pageview_id for row in new if row.name == "engagement" and row.pageview_id}
        referred_here = referred & in_batch
        referred -= referred_here
        carried_pageviews = {
            pv: owner for pv in referred if (owner := carry.pageview_session(pv)) is not None
        }
        referred -= carried_pageviews.keys()
        keys = visitor_keys(new)
        since = epoch_ms(earliest)
        cached = known.find(keys, since) if known is not None else {}
        open_sessions = await _open_sessions(conn, keys - cached.keys(), earliest)
        open_sessions.update(cached)
        pageview_sessions = await _pageview_sessions(conn, sorted(referred))
    for key in keys & carry.sessions.keys():
        carried = carry.sessions[key]
        stored = open_sessions.get(key)
        if carried.last_ms >= since and (stored is None or carried.last_ms >= stored.last_ms):
            open_sessions[key] = carried
    pageview_sessions.update(carried_pageviews)
    new.sort(key=attrgetter("at"))
    return PreparedBatch(
        deliveries=deliveries,
        rows=new,
        open_sessions=open_sessions,
        pageview_sessions=pageview_sessions,
        referred=referred_here,
        event_ids=in_batch,
        received=received,
        verified=verify,
    )


@dataclass(slots=True)
class StagedBatch:
    """A batch sessionised, its `events` rows sent in a transaction still open (`conn`):
    what is left to write, and what it carries over to the next batch."""

    deliveries: Sequence[Delivery]
    conn: AsyncConnection | None  # None: nothing to write (every event was stored)
    # (event_id, occurred_at, session_id) for the event_ids register, in id order: a btree
    # takes sorted keys with far fewer page visits, which saves the database more time than
    # sorting them costs this process.
    claims: list[tuple[Any, Any, Any]]
    session_rows: list[dict[str, Any]]
    page_rows: list[dict[str, Any]]
    site_rows: list[dict[str, Any]]
    carry: Carry
    received: int = 0
    verified: bool = False
    continued: list[Session] = field(default_factory=list)  # stored sessions it changed
    # First sighting (epoch ms) per (day, site, visitor) and (day, site, path, visitor).
    visitors: dict[tuple[Any, ...], int] = field(default_factory=dict)
    pages: dict[tuple[Any, ...], int] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)


async def stage_batch(*, engine: AsyncEngine, batch: PreparedBatch) -> StagedBatch:
    """Open the batch's transaction and sessionise its events a slice at a time, each
    slice's `events` rows sent while the next slice is made (see streaming_insert). The
    transaction stays open for finish_batch; it is rolled back here if anything fails."""
    if not batch.rows:
        return StagedBatch(
            batch.deliveries, None, [], [], [], [], Carry(), batch.received, batch.verified
        )
    started = time.perf_counter()
    sessioniser = Sessioniser(
        open_sessions=batch.open_sessions,
        pageview_sessions=batch.pageview_sessions,
        referred=batch.referred,
    )
    rows = batch.rows
    claims: list[tuple[Any, Any, Any]] = []
    conn = await engine.connect()
    try:
        await conn.begin()
        async with streaming_insert(conn, events, EVENT_COLUMNS) as send:
            for start in range(0, len(rows), STAGE_SLICE):
                records = sessioniser.add(rows[start : start + STAGE_SLICE])
                claims.extend(map(CLAIM, records))
                await send(records)
    except BaseException as exc:
        await conn.close()  # rolls the transaction back
        if is_duplicate_key(exc):
            # An event stored already. On SQLite `events` has event_id as its primary key,
            # so the insert finds it; on Postgres the claims do, in finish_batch.
            raise ConcurrentWrite() from exc
        raise
    result = sessioniser.result()
    claims.sort(key=itemgetter(0))
    latest: dict[tuple[str, int], Session] = {}
    for session in result.sessions:
        key = (session.site_id, session.visitor_hash)
        if key not in latest or session.last_ms > latest[key].last_ms:
            latest[key] = session
    return StagedBatch(
        deliveries=batch.deliveries,
        conn=conn,
        claims=claims,
        session_rows=[session.row() for session in result.sessions if not session.stored],
        continued=[session for session in result.sessions if session.stored],
        page_rows=result.page_hourly,
        site_rows=result.site_hourly,
        carry=Carry(sessions=latest, event_ids=batch.event_ids, claims=claims),
        received=batch.received,
        verified=batch.verified,
        visitors=result.visitors,
        pages=result.pages,
        started=started,
    )


class StoredKeys:
    """visitor_days / page_visitor_days keys this worker has committed.

    A stored key stays counted (the per-day sets are only trimmed of days the rollups have
    already counted), so a later batch need not send it again: at scale most of a batch's
    visitors were seen earlier that day, and sending them cost a COPY row and a conflicting
    insert each. Only committed keys are remembered, so another worker's writes can make a
    key look new (then the database answers), never the other way round. Bounded: forgotten
    all at once when full, which only costs sending them again.
    """

    def __init__(self, limit: int = 300_000) -> None:
        self.limit = limit
        self.keys: set[tuple[Any, ...]] = set()

    def unknown(self, first_seen: dict[tuple[Any, ...], int]) -> dict[tuple[Any, ...], int]:
        keys = self.keys
        return {key: at for key, at in first_seen.items() if key not in keys}

    def remember(self, *committed: dict[tuple[Any, ...], int]) -> None:
        size = sum(map(len, committed))
        if len(self.keys) + size > self.limit:
            self.keys.clear()
        for keys in committed:
            self.keys.update(keys)


async def _count_new_visitors(
    conn: AsyncConnection,
    batch: StagedBatch,
    visitors: dict[tuple[Any, ...], int],
    pages: dict[tuple[Any, ...], int],
) -> None:
    """Add the batch's visitors new to their day (and page) to its rollup rows; forget the
    per-day sets older than the day before the batch's earliest event. `visitors`, `pages`:
    the batch's first sightings that may be new (see StoredKeys)."""
    new_visitors = set(await insert_new_returning(conn, visitor_days, list(visitors)))
    new_pages = set(await insert_new_returning(conn, page_visitor_days, list(pages)))
    add_visitor_counts(
        batch.site_rows,
        batch.page_rows,
        {key: at for key, at in visitors.items() if key in new_visitors},
        {key: at for key, at in pages.items() if key in new_pages},
    )
    oldest = min(key[0] for key in batch.visitors) - timedelta(days=1)
    for table in (visitor_days, page_visitor_days):
        await conn.execute(delete(table).where(table.c.day < oldest))


async def mark_dirty_days(conn: AsyncConnection, batch: StagedBatch) -> None:
    """Mark the UTC days whose daily rollups this batch changes (`daily_dirty`, see
    shared/models.py): the days of its events, and the first and last days of the stored
    sessions it continued (their bounce and duration count on the days they had events).
    Bumping the generation tells a refresh running meanwhile that its result is stale."""
    days = {(site, day) for day, site, _ in batch.visitors}
    for session in batch.continued:
        for ms in (session.started_ms, session.last_ms):
            days.add((session.site_id, from_epoch_ms(ms).date()))
    rows = [{"site_id": site, "day": day, "generation": 1} for site, day in sorted(days)]
    await upsert(conn, daily_dirty, rows, keys=["site_id", "day"], add=["generation"])


async def finish_batch(
    *,
    batch: StagedBatch,
    stored: StoredKeys | None = None,
    fence: Callable[[], None] | None = None,
    log_to: Callable[[str, int], int] | None = None,
) -> int:
    """Claim a staged batch's ids, add its sessions and rollups, and commit; returns how
    many events were new. `fence`, called last before the commit, raises to roll back (a
    lease lost: the batch's visitors are another worker's now). With `log_to` (a visitor's
    slice), changes to stored sessions go to the change log, for the caller to fold in
    later (session_log); without it their rows are updated now.

    If some of its events are stored already (another writer, or a redelivery the batch
    was not verified against), its sessions and rollups would count them twice: the
    transaction is rolled back (ConcurrentWrite) and the batch is prepared again.
    """
    conn = batch.conn
    if conn is None:
        return 0
    stored = stored or StoredKeys()
    visitors, pages = stored.unknown(batch.visitors), stored.unknown(batch.pages)
    try:
        if await claim_event_ids(conn, event_ids, batch.claims) != len(batch.claims):
            raise ConcurrentWrite()
        await _count_new_visitors(conn, batch, visitors, pages)
        await upsert(
            conn, sessions, batch.session_rows, keys=["session_id"], replace=SESSION_COLUMNS
        )
        if log_to is None:
            updates = [session.update_row() for session in batch.continued]
            await update_rows(conn, sessions, updates, key="session_id")
        else:
            await log_changes(conn, batch.continued, log_to)
        await mark_dirty_days(conn, batch)
        await upsert(
            conn,
            page_hourly,
            batch.page_rows,
            keys=["site_id", "hour", "path"],
            add=["pageviews", "engaged_ms", "entries", "visitors"],
        )
        await upsert(
            conn,
            site_hourly,
            batch.site_rows,
            keys=["site_id", "hour"],
            add=[
                "pageviews",
                "events",
                "sessions",
                "engaged_ms",
                "gpc_events",
                "visitors",
            ],
        )
        if fence is not None:
            fence()
        await conn.commit()
    finally:
        await conn.close()  # rolls back what was not committed
    stored.remember(visitors, pages)
    return len(batch.claims)


async def write_prepared(
    *, engine: AsyncEngine, batch: PreparedBatch, stored: StoredKeys | None = None
) -> int:
    """Store a prepared batch in one transaction; returns how many events were new."""
    staged = await stage_batch(engine=engine, batch=batch)
    return await finish_batch(batch=staged, stored=stored)


async def commit_batch(
    *,
    queue: EventQueue,
    batch: StagedBatch,
    stored: StoredKeys,
    fence: Callable[[], None] | None = None,
    log_to: Callable[[str, int], int] | None = None,
) -> int:
    """Finish a staged batch, then acknowledge it. Raises if the write fails (nothing acked)."""
    inserted = await finish_batch(batch=batch, stored=stored, fence=fence, log_to=log_to)
    INGEST_WRITE_SECONDS.observe(time.perf_counter() - batch.started)
    INGEST_BATCH_EVENTS.observe(batch.received)
    INGEST_EVENTS.labels("stored").inc(inserted)
    INGEST_EVENTS.labels("duplicate").inc(batch.received - inserted)
    await queue.ack([delivery.id for delivery in batch.deliveries])
    return inserted


async def write_events(
    *,
    engine: AsyncEngine,
    deliveries: Sequence[Delivery],
    revocations: RevocationNotifier | None = None,
) -> int:
    """Store deliveries on their own (no batch in flight); returns how many events were new.

    Prepared again, verified against what is stored, when some of them were stored already
    or another writer stored some in between (bounded).
    """
    for attempt in range(len(RETRY_DELAYS)):
        prepared = await prepare_batch(
            engine=engine,
            deliveries=deliveries,
            carry=Carry(),
            verify=attempt > 0,
            revocations=revocations,
        )
        try:
            return await write_prepared(engine=engine, batch=prepared)
        except ConcurrentWrite:
            continue
    raise ConcurrentWrite()


async def ingest_batch(*, engine: AsyncEngine, queue: EventQueue, batch: Sequence[Delivery]) -> int:
    """Write one batch on its own, then acknowledge it. Raises if the write fails."""
    inserted = await write_events(engine=engine, deliveries=batch)
    await queue.ack([delivery.id for delivery in batch])
    return inserted


async def run_ingest(resources: Resources, stop: asyncio.Event) -> None:
    """Consume until `stop` is set, then drain what is already queued and return.

    Work overlaps twice. Within a batch, its events are sessionised a slice at a time while
    the slice before is stored (stage_batch). Across batches, while one is finished (its
    ids claimed, its sessions and rollups written: the database's work), the next is read,
    decoded and its open sessions looked up, with the first one's effects carried over
    (see Carry). A failed write is retried with backoff and never acknowledged, so nothing
    accepted is lost: the failed batch and the one prepared behind it are merged and
    prepared again from what the database holds. With Redis, a crash leaves both pending
    for this consumer name to re-read.

    With Redis the worker reads only the slices it holds a lease on (SliceLeases, renewed
    in a task beside the loop), so it alone writes their visitors and keeps their open
    sessions in memory between batches (OpenSessions). Between batches, with nothing in
    flight, it applies what changed: slices lost or taken over are forgotten (their
    sessions are read from the database again, once a slice taken over has its change
    log folded in), a surplus is released.

    With OVERT_SESSION_FOLD_MS above 0, changes to stored sessions are logged with their
    batch and folded into `sessions` (session_log), with nothing in flight: once the queue
    runs dry, and at least that often while it does not. Whatever the setting, the log is
    folded at the start (what a
    crash left), after a failed write (before sessions are read from the database again)
    and when stopping.
    """
    await IngestLoop(resources, stop).run()


class IngestLoop:
    """run_ingest's state between batches, and its steps: read (after applying lease
    changes), prepare, stage (then the batch in flight is finished by commit_batch in a
    task), settle, and on failure put back."""

    def __init__(self, resources: Resources, stop: asyncio.Event) -> None:
        self.engine, self.queue = resources.engine, resources.queue
        self.dead_letters = open_dead_letters(resources)
        self.revocations = resources.revocations
        self.entries = resources.settings.ingest_batch_entries
        self.in_process = not isinstance(self.queue, RedisStreamQueue)
        self.stop = stop
        self.failures = 0
        self.verify = False  # prepare the next batch against what is stored (after a failed write)
        self.batch: list[Delivery] = []  # read and not yet staged
        self.carry = Carry()
        self.stored = StoredKeys()
        self.known = OpenSessions()
        self.writing: tuple[asyncio.Task[int], StagedBatch] | None = None
        self.must_fold = True  # fold the change log before the next batch is prepared
        self.folded_at = time.monotonic()
        self.fold_seconds = resources.settings.session_fold_ms / 1000
        self.log_sessions = self.fold_seconds > 0  # else sessions are updated per batch
        self.idle = False  # the last read found the queue empty
        self.finished = False  # the loop is over: stop renewing leases
        self.to_fold: set[int] = set()  # slices taken over, read once their log is folded
        self.leases: SliceLeases | None = None
        if isinstance(self.queue, RedisStreamQueue) and resources.redis is not None:
            settings = resources.settings
            self.leases = SliceLeases(
                resources.redis,
                prefix=settings.redis_prefix,
                slices=self.queue.slices,
                worker=settings.worker_name,
                ttl_ms=settings.slice_lease_ms,
            )
            self.queue.read_slices(())  # none until leased

    def slice_of(self, site_id: str, visitor_hash: int) -> int:
        """A visitor's slice (0 without leases: one consumer, one slice)."""
        if self.leases is None:
            return 0
        return visitor_slice(site_id, visitor_hash, self.leases.slices)

    async def fold(self, slices: Collection[int] | None = None) -> bool:
        """Fold the change log of these slices (default: every one this worker holds, or
        all without leases) into `sessions`, fenced by their leases; False if that failed."""
        everything = slices is None
        if self.leases is not None and slices is None:
            slices = set(self.leases.held)
        try:
            async with self.engine.connect() as conn:
                folded = await fold_changes(conn, slices)
                if self.leases is not None and slices:
                    self.leases.check(slices)
                await conn.commit()
        except Exception as exc:
            # Folding is part of writing batches: the message operators watch for.
            log.warning("batch write failed (%s) while folding session changes", type(exc).__name__)
            return False
        if everything:
            self.known.folded()
            self.folded_at = time.monotonic()
            self.must_fold = False
        log.debug("session changes folded", extra={"sessions": folded})
        return True

    async def keep_folded(self) -> bool:
        """Between batches: fold the change log when due (see run_ingest); False if the
        loop must go round again first (the batch in flight failed, or the fold did)."""
        unfolded = len(self.known.unfolded)
        due = unfolded and (
            self.idle
            or unfolded >= FOLD_SESSIONS
            or time.monotonic() - self.folded_at >= self.fold_seconds
        )
        if not (self.must_fold or due):
            return True
        if await self.settle():
            return False  # the batch in flight failed: it goes first, then the fold
        if not await self.fold():
            self.must_fold = True
            await asyncio.sleep(self.next_delay())
            return False
        return True

    async def keep_leases(self) -> None:
        """Renew, acquire and mark leases every third of their time to live (a task, after
        run's first round), until the loop is over. Cancelling it is not enough: a cancel
        that lands while redis-py sends a command can be swallowed there, and the task then
        renewed on forever while the worker waited for it to end (seen when stopped right
        after starting)."""
        assert self.leases is not None
        while not self.finished:
            await asyncio.sleep(self.leases.interval)
            if not self.finished:
                await self.refresh_leases()

    async def refresh_leases(self) -> None:
        assert self.leases is not None
        try:
            await self.leases.refresh()
        except Exception as exc:
            log.warning("lease renewal failed: %s", type(exc).__name__)

    async def apply_leases(self) -> None:
        """Between batches: forget what memory holds of slices lost or just taken over (their
        previous holder wrote them), release a surplus once nothing of it is left to write,
        and read what is held."""
        leases = self.leases
        if leases is None or not (leases.lost or leases.acquired or leases.surplus or self.to_fold):
            return
        if await self.settle():
            return  # the batch in flight went back in front: write it first
        changed = leases.lost | leases.acquired
        self.to_fold = (self.to_fold | leases.acquired) - leases.lost
        leases.lost, leases.acquired = set(), set()
        surplus = set(leases.surplus)
        if surplus and any(delivery.slice in surplus for delivery in self.batch):
            surplus = set()
        self.known.forget_slices(changed | surplus, self.slice_of)
        self.carry = Carry()
        if surplus:
            self.queue_read(leases.readable() - self.to_fold)
            await leases.release(surplus)
            log.info("handed slices over", extra={"slices": len(surplus)})
        # A slice taken over is read once the changes its holder before logged are folded.
        self.to_fold &= set(leases.held)
        if self.to_fold and await self.fold(self.to_fold):
            self.to_fold = set()
        self.queue_read(leases.readable() - self.to_fold)

    def queue_read(self, slices: set[int]) -> None:
        assert isinstance(self.queue, RedisStreamQueue)
        self.queue.read_slices(slices)

    async def run(self) -> None:
        renewing: asyncio.Task[None] | None = None
        if self.leases is not None:
            # The first round before the first read, which would otherwise find no slice
            # to read and wait a whole read's block for nothing.
            await self.refresh_leases()
            renewing = asyncio.create_task(self.keep_leases())
        try:
            await self.loop()
        finally:
            self.finished = True
            if renewing is not None:
                renewing.cancel()
                await asyncio.gather(renewing, return_exceptions=True)
            if self.writing is not None:
                await asyncio.gather(self.writing[0], return_exceptions=True)
            await self.fold()  # what is left of the change log (a failure leaves it there)
            if self.leases is not None:
                try:
                    await self.leases.close()  # the others take the slices over now
                except Exception as exc:
                    log.warning("releasing leases failed: %s", type(exc).__name__)

    async def loop(self) -> None:
        while True:
            if self.stop.is_set() and self.failures >= len(RETRY_DELAYS):
                # Shutting down and the database still refuses: stop without
                # acknowledging. Redis keeps the batch pending; in-process publishers get
                # a 503 (not accepted).
                log.error("giving up on a batch at shutdown")
                return
            if not await self.keep_folded():
                continue
            if not self.batch:
                if not await self.read():
                    return
                if not self.batch:
                    continue
            prepared = await self.prepare()
            if prepared is None:
                continue
            self.verify = False
            if await self.settle():
                continue  # the batch in flight failed: what was prepared assumed it had not
            self.batch = []
            await self.stage(prepared)

    def next_delay(self) -> float:
        """The backoff before the next attempt, longer after each failure in a row."""
        delay = RETRY_DELAYS[min(self.failures, len(RETRY_DELAYS) - 1)]
        self.failures += 1
        return delay

    async def read(self) -> bool:
        """Read the next batch from the queue (it may be empty); False once stopped and
        drained, when the loop is over."""
        await self.apply_leases()
        if self.batch:  # the batch in flight failed there and went back in front
            return True
        if self.stop.is_set():
            if self.writing is not None:
                await self.settle()
                return True
            if not (self.in_process and await self.queue.depth()):
                return False
        try:
            self.batch = await self.consume()
        except Exception as exc:
            log.warning("queue read failed: %s", type(exc).__name__)
            await self.settle()
            await asyncio.sleep(self.next_delay())
            return True
        self.idle = not self.batch
        if not self.batch:
            await self.settle()
        return True

    async def consume(self) -> list[Delivery]:
        """Read a batch: at once with a batch in flight, else waiting a while for one, a
        wait that ends when the worker is told to stop (it would make stopping wait it out).
        A read cut short is safe: an in-process read takes entries only once it wakes; what
        Redis delivered meanwhile stays pending, for this consumer's next start or the
        slice's next holder."""
        if self.writing is not None:
            return await self.queue.consume(count=self.entries, block_ms=1)
        if self.stop.is_set():  # draining what is left in process: nothing to end the wait
            return await self.queue.consume(count=self.entries, block_ms=250)
        reading = asyncio.ensure_future(self.queue.consume(count=self.entries, block_ms=250))
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait((reading, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not reading.done():
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)
        if reading.cancelled():
            return []
        return reading.result()

    async def prepare(self) -> PreparedBatch | None:
        """Prepare the batch read (while the one in flight is written); None if that failed."""
        try:
            return await prepare_batch(
                engine=self.engine,
                deliveries=self.batch,
                carry=self.carry,
                verify=self.verify,
                revocations=self.revocations,
                known=self.known,
            )
        except Exception as exc:
            # Reading what a batch needs is part of writing it: same message as before the
            # overlap, which operators (and the fault tests) watch for.
            log.warning("batch write failed (%s) while preparing it", type(exc).__name__)
            if not await self.settle():
                self.carry = Carry()
                if is_entry_fault(exc, benign=ConcurrentWrite) and await self.isolate(self.batch):
                    self.batch = []
                    return None
                await asyncio.sleep(self.next_delay())
            return None

    async def stage(self, prepared: PreparedBatch) -> None:
        """Stage a prepared batch, then finish and acknowledge it in a task (in flight)."""
        try:
            staged = await stage_batch(engine=self.engine, batch=prepared)
        except Exception as exc:
            await self.failed(exc, prepared)
            return
        fence: Callable[[], None] | None = None
        if self.leases is not None:
            check, slices = self.leases.check, {d.slice for d in staged.deliveries}
            fence = lambda: check(slices)  # noqa: E731
        self.writing = (
            asyncio.create_task(
                commit_batch(
                    queue=self.queue,
                    batch=staged,
                    stored=self.stored,
                    fence=fence,
                    log_to=self.slice_of if self.log_sessions else None,
                )
            ),
            staged,
        )
        self.carry = staged.carry

    async def settle(self) -> bool:
        """Wait for the batch in flight; on failure put it back in front. True if it failed."""
        if self.writing is None:
            return False
        task, staged = self.writing
        self.writing = None
        try:
            inserted = await task
        except Exception as exc:
            await self.failed(exc, staged)
            return True
        log.debug("batch written", extra={"entries": len(staged.deliveries), "inserted": inserted})
        self.known.remember(staged.carry.sessions.values(), logged=self.log_sessions)
        self.failures = 0
        return False

    async def failed(self, exc: Exception, written: StagedBatch | PreparedBatch) -> None:
        """A write failed: put its deliveries back in front, to be prepared again against
        what the database holds, and back off (unless it met events stored before)."""
        self.carry = Carry()
        self.known.clear()  # what was kept may be what failed, or another writer's since
        self.must_fold = True  # then the rows it held may lag the log: fold before reading
        self.verify = True
        # Entries of slices no longer held are their new holder's (it claims them). A lease
        # not renewed in time but not known lost yet (Redis unreachable) keeps its entries:
        # the write is retried with backoff until the renewal answers.
        mine = self.held(written.deliveries)
        self.batch = self.held(self.batch)
        if isinstance(exc, ConcurrentWrite) and not written.verified:
            self.batch = [*mine, *self.batch]
            log.debug("batch held events stored before; preparing it again")
            return
        # A lost lease is no fault of the data: never a reason to dead-letter.
        if is_entry_fault(exc, benign=(ConcurrentWrite, LeaseLost)) and await self.isolate(mine):
            return  # the batch read behind it is prepared again (verified): it assumed this one
        self.batch = [*mine, *self.batch]
        delay = self.next_delay()
        log.warning(
            "batch write failed (%s); retrying in %.1fs",
            type(exc).__name__,
            delay,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        await asyncio.sleep(delay)

    def held(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """The deliveries of slices this worker still holds (all of them without leases)."""
        if self.leases is None:
            return list(deliveries)
        held = self.leases.held
        return [delivery for delivery in deliveries if delivery.slice in held]

    async def isolate(self, deliveries: Sequence[Delivery]) -> bool:
        """A batch failed for its data: store what can be, dead-letter what fails alone (see
        services.collector.faults), acknowledge it all. False if the database failed on the
        way (then the caller retries the whole batch with backoff)."""

        async def write(part: Sequence[Delivery]) -> int:
            return await write_events(
                engine=self.engine, deliveries=part, revocations=self.revocations
            )

        # These writes read sessions from the database and update them there: the log
        # first, and what memory held is stale after.
        if not await self.fold():
            return False
        self.known.clear()
        self.carry = Carry()
        try:
            done = await isolate_faults(
                write=write,
                engine=self.engine,
                dead_letters=self.dead_letters,
                deliveries=deliveries,
                benign=(ConcurrentWrite, LeaseLost),
            )
            await self.queue.ack([delivery.id for delivery in deliveries])
        except Exception as exc:
            log.warning("isolating a failed batch failed (%s)", type(exc).__name__)
            return False
        INGEST_EVENTS.labels("stored").inc(done.stored)
        log.info(
            "batch stored around its dead letters",
            extra={"entries": len(deliveries), "inserted": done.stored},
        )
        self.failures = 0
        return True
