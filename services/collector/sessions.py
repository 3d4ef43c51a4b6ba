"""Sessionisation and rollups over one batch of new events, in memory (no database).

A session is the events of one visitor hash on one site with no gap over 30 minutes.
`engagement` events belong to the session of their pageview and never open one.
A session is engaged when it has enough engaged time, enough pageviews, or a goal
(thresholds per site). Rollups are additive hourly counters; each event counts once
because only events new to the database reach this code.

One worker writes a visitor's events (visitor affinity, see shared.queue), so the worker
may keep its visitors' open sessions in memory (OpenSessions) instead of reading them back.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.collector.records import NO_SESSION, DecodedEvent, Id, QueuedEvent, copy_record
from shared.models import BUILTIN_EVENTS

SESSION_GAP = timedelta(minutes=30)
ATTRIBUTION = ("referrer", "source", "medium", "utm_source", "utm_medium", "utm_campaign")
CONTEXT = ("browser", "os", "device", "country", "analytics_id")


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)
GAP_MS = SESSION_GAP // MILLISECOND
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def epoch_ms(moment: datetime) -> int:
    """Exact milliseconds since the epoch (no float rounding)."""
    return (moment - EPOCH) // MILLISECOND


def from_epoch_ms(ms: int) -> datetime:
    return EPOCH + ms * MILLISECOND


_NO_ATTRIBUTES: dict[str, Any] = dict.fromkeys((*ATTRIBUTION, *CONTEXT))


@dataclass(slots=True)
class Session:
    """A session being built; times are epoch milliseconds (cheap to compare per event)."""

    session_id: uuid.UUID
    site_id: str
    visitor_hash: int
    started_ms: int
    last_ms: int
    entry_path: str
    exit_path: str
    pageviews: int = 0
    events: int = 0
    goals: int = 0
    engaged_ms: int = 0
    max_scroll_depth: int = 0
    attribution: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    touched: bool = False
    stored: bool = False  # its row exists: changes go as an update (update_row)
    _event_columns: tuple[Any, ...] | None = None

    def event_columns(self) -> tuple[Any, ...]:
        """What each of its events carries in `events`, after its own columns: the session
        id, entry page and attribution (columns the query engine filters on without joining
        `sessions`). Fixed when the session opens, so made once per session."""
        if self._event_columns is None:
            attribution = self.attribution
            self._event_columns = (
                self.session_id,
                self.entry_path,
                attribution.get("referrer"),
                attribution.get("source"),
                attribution.get("medium"),
                attribution.get("utm_source"),
                attribution.get("utm_medium"),
                attribution.get("utm_campaign"),
            )
        return self._event_columns

    def row(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "site_id": self.site_id,
            "visitor_hash": self.visitor_hash,
            "started_at": from_epoch_ms(self.started_ms),
            "last_seen_at": from_epoch_ms(self.last_ms),
            "pageviews": self.pageviews,
            "events": self.events,
            "goals": self.goals,
            "engaged_ms": self.engaged_ms,
            "max_scroll_depth": self.max_scroll_depth,
            "entry_path": self.entry_path,
            "exit_path": self.exit_path,
            # Dict merges in C: one session row per event in a busy batch, so this counts.
            **_NO_ATTRIBUTES,
            **self.attribution,
            **self.context,
        }

    def update_row(self) -> dict[str, Any]:
        """Its columns that events change (the others are fixed when it opens)."""
        return {
            "session_id": self.session_id,
            "started_at": from_epoch_ms(self.started_ms),
            "last_seen_at": from_epoch_ms(self.last_ms),
            "exit_path": self.exit_path,
            "pageviews": self.pageviews,
            "events": self.events,
            "goals": self.goals,
            "engaged_ms": self.engaged_ms,
            "max_scroll_depth": self.max_scroll_depth,
            "analytics_id": self.context.get("analytics_id"),
        }

    def copy(self) -> Session:
        """A copy to change (dataclasses.replace is several times slower)."""
        return Session(
            self.session_id,
            self.site_id,
            self.visitor_hash,
            self.started_ms,
            self.last_ms,
            self.entry_path,
            self.exit_path,
            self.pageviews,
            self.events,
            self.goals,
            self.engaged_ms,
            self.max_scroll_depth,
            dict(self.attribution),
            dict(self.context),
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Session:
        return cls(
            session_id=row["session_id"],
            site_id=row["site_id"],
            visitor_hash=row["visitor_hash"],
            started_ms=epoch_ms(row["started_at"]),
            last_ms=epoch_ms(row["last_seen_at"]),
            entry_path=row["entry_path"],
            exit_path=row["exit_path"],
            pageviews=row["pageviews"],
            events=row["events"],
            goals=row["goals"],
            engaged_ms=row["engaged_ms"],
            max_scroll_depth=row["max_scroll_depth"],
            attribution={name: row[name] for name in ATTRIBUTION},
            context={name: row[name] for name in CONTEXT},
        )


@dataclass(slots=True)
class BatchResult:
    """What one batch changes besides its `events` rows: its sessions, rollup deltas and
    first sightings."""

    sessions: list[Session]
    page_hourly: list[dict[str, Any]]
    site_hourly: list[dict[str, Any]]
    # Each (UTC day, site, visitor) and (UTC day, site, path, visitor) of the batch, with
    # the earliest moment (epoch ms) it occurs; keys in the order of the visitor_days /
    # page_visitor_days primary keys.
    visitors: dict[tuple[Any, ...], int]
    pages: dict[tuple[Any, ...], int]


@dataclass(slots=True)
class PageCounts:
    """What a batch adds to one page_hourly row (site, hour, path)."""

    pageviews: int = 0
    engaged_ms: int = 0
    entries: int = 0


@dataclass(slots=True)
class SiteCounts:
    """What a batch adds to one site_hourly row (site, hour)."""

    pageviews: int = 0
    events: int = 0
    sessions: int = 0
    engaged_ms: int = 0
    gpc_events: int = 0


class Sessioniser:
    """Assigns a batch's new events to sessions and computes its rollup deltas, fed in
    slices so that the `events` rows of one slice can be written while the next is made.

    `open_sessions`: the latest stored session per (site, visitor) that may still continue
    (stored: committed before this batch is, so their changes go as updates).
    `pageview_sessions`: session ids of stored pageviews that engagement events refer to,
    by the pageviews' hex ids (records.HexId). `referred`: the batch's own pageviews its
    engagement events refer to, the only ones whose sessions are looked up here (None:
    all; a dict entry per pageview costs as much as a sixth of sessionising it). Events
    must come in time order, across slices too (sort the batch by `at` first); `add`
    answers each slice's rows, `result` the rest once every slice is in.
    """

    def __init__(
        self,
        *,
        open_sessions: Mapping[tuple[str, int], Session],
        pageview_sessions: Mapping[str, uuid.UUID],
        referred: Collection[str] | None = None,
    ) -> None:
        self.referred = referred
        self.latest: dict[tuple[str, int], Session] = {}
        # Keyed by the ids themselves: sessions' are asyncpg's UUIDs (records.Id), which
        # keep their hash (uuid.UUID's __hash__ is Python code, run on every lookup);
        # events' are hex text.
        self.by_id: dict[uuid.UUID, Session] = {}
        self.pageview_owner: dict[str, Session] = {}
        for key, open_session in open_sessions.items():
            session = open_session.copy()
            session.stored = True
            self.latest[key] = self._remember(session)
        for pageview_id, session_id in pageview_sessions.items():
            owner = self.by_id.get(session_id)
            if owner is not None:
                self.pageview_owner[pageview_id] = owner
        # Rollup deltas keyed by the hour's epoch milliseconds; datetimes only in the output.
        self.page_deltas: dict[tuple[str, int, str], PageCounts] = defaultdict(PageCounts)
        self.site_deltas: dict[tuple[str, int], SiteCounts] = defaultdict(SiteCounts)
        # First sightings per UTC day: (site, visitor) and (site, path, visitor) -> epoch
        # ms. In time order, the first one seen is the earliest.
        self.day_visitors: dict[int, dict[tuple[str, int], int]] = defaultdict(dict)
        self.day_pages: dict[int, dict[tuple[str, str, int], int]] = defaultdict(dict)

    def _remember(self, session: Session) -> Session:
        key = session.session_id
        known = self.by_id.get(key)
        if known is None:
            self.by_id[key] = known = session
        return known

    def add(self, rows: Iterable[DecodedEvent]) -> list[tuple[Any, ...]]:
        """The `events` rows of the next events in time order, in their order."""
        latest, pageview_owner, referred = self.latest, self.pageview_owner, self.referred
        page_deltas, site_deltas = self.page_deltas, self.site_deltas
        day_visitors, day_pages = self.day_visitors, self.day_pages
        records: list[tuple[Any, ...]] = []
        # The loop below runs per event (200k in a large batch): the row's hour counters
        # and day sets are looked up only when the hour or the site changes (events come
        # in time order), and no pass over the events is made twice.
        delta_site, delta_hour, site_delta = "", -1, SiteCounts()
        seen_visitors: dict[tuple[str, int], int] = {}
        seen_pages: dict[tuple[str, str, int], int] = {}
        for row in rows:
            at = row.at
            hour = at - at % HOUR_MS
            name = row.name
            site = row.site_id
            path = row.path
            visitor = row.visitor_hash
            if hour != delta_hour or site != delta_site:
                delta_site, delta_hour = site, hour
                site_delta = site_deltas[(site, hour)]
                day = hour // DAY_MS
                seen_visitors, seen_pages = day_visitors[day], day_pages[day]
            key = (site, visitor)
            page = (site, path, visitor)
            if page not in seen_pages:  # else its visitor has been seen that day too
                seen_pages[page] = at
                if key not in seen_visitors:
                    seen_visitors[key] = at
            session: Session | None = None
            if name == "engagement" and row.pageview_id is not None:
                session = pageview_owner.get(row.pageview_id)
            if session is None:
                current = latest.get(key)
                if (
                    current is not None
                    and current.started_ms - GAP_MS <= at <= current.last_ms + GAP_MS
                ):
                    session = current
            if session is None and name != "engagement":
                session = self._remember(
                    Session(
                        session_id=Id(uuid.uuid4().bytes),
                        site_id=site,
                        visitor_hash=visitor,
                        started_ms=at,
                        last_ms=at,
                        entry_path=path,
                        exit_path=path,
                        attribution={name_: getattr(row, name_) for name_ in ATTRIBUTION},
                        context={name_: getattr(row, name_) for name_ in CONTEXT},
                    )
                )
                latest[key] = session
                page_deltas[(site, hour, path)].entries += 1
                site_delta.sessions += 1

            site_delta.events += 1
            if row.gpc:
                site_delta.gpc_events += 1
            if name == "pageview":
                page_deltas[(site, hour, path)].pageviews += 1
                site_delta.pageviews += 1
            elif name == "engagement":
                engaged = row.engaged_ms or 0
                page_deltas[(site, hour, path)].engaged_ms += engaged
                site_delta.engaged_ms += engaged

            if session is None:
                records.append(copy_record(row, NO_SESSION))
                continue
            records.append(copy_record(row, session.event_columns()))
            session.touched = True
            session.events += 1
            if at > session.last_ms:
                session.last_ms = at
            if at < session.started_ms:
                session.started_ms = at
            if name == "pageview":
                session.pageviews += 1
                session.exit_path = path
                if referred is None or row.event_id in referred:
                    pageview_owner[row.event_id] = session
            elif name == "engagement":
                session.engaged_ms += row.engaged_ms or 0
                session.max_scroll_depth = max(session.max_scroll_depth, row.scroll_depth or 0)
            elif name not in BUILTIN_EVENTS:
                session.goals += 1
            if row.analytics_id and not session.context.get("analytics_id"):
                session.context["analytics_id"] = row.analytics_id
        return records

    def result(self) -> BatchResult:
        """Sessions changed, rollup deltas and first sightings of every event added."""
        site_deltas = self.site_deltas
        changed = [session for session in self.by_id.values() if session.touched]

        days = {index: from_epoch_ms(index * DAY_MS).date() for index in self.day_visitors}
        return BatchResult(
            sessions=changed,
            page_hourly=[
                {
                    "site_id": site,
                    "hour": from_epoch_ms(hour),
                    "path": path,
                    "pageviews": counts.pageviews,
                    "engaged_ms": counts.engaged_ms,
                    "entries": counts.entries,
                }
                for (site, hour, path), counts in self.page_deltas.items()
            ],
            site_hourly=[
                {
                    "site_id": site,
                    "hour": from_epoch_ms(hour),
                    "pageviews": counts.pageviews,
                    "events": counts.events,
                    "sessions": counts.sessions,
                    "engaged_ms": counts.engaged_ms,
                    "gpc_events": counts.gpc_events,
                }
                for (site, hour), counts in site_deltas.items()
            ],
            visitors={
                (days[index], site, visitor): at
                for index, seen in self.day_visitors.items()
                for (site, visitor), at in seen.items()
            },
            pages={
                (days[index], site, path, visitor): at
                for index, seen in self.day_pages.items()
                for (site, path, visitor), at in seen.items()
            },
        )


class OpenSessions:
    """The open sessions of the visitors this worker owns, as it committed them: read
    instead of the `sessions` table, which only this worker writes for these visitors.

    Only what this worker committed goes in, so an entry is never older than the database.
    A visitor missing here is read from the database. Bounded: sessions idle past the
    session gap (behind the newest event seen) are dropped, and past `limit` the least
    recently seen go first. Sessions of a slice this worker took over or lost are dropped
    (`forget_slices`): the previous holder wrote them; and everything when a write fails.

    A stored session a batch changed has its new totals in the change log until the worker
    folds it into `sessions` (session_log): until then its row is stale, so the session is
    kept here whatever its age (`unfolded`, cleared by `folded`). `clear` drops those too:
    fold the log first.
    """

    def __init__(self, *, limit: int = 500_000) -> None:
        self.limit = limit
        self.sessions: dict[tuple[str, int], Session] = {}
        self.unfolded: set[tuple[str, int]] = set()  # visitors whose row lags the log
        self.newest_ms = 0
        self._swept_ms = 0  # newest_ms when idle sessions were last dropped

    def __len__(self) -> int:
        return len(self.sessions)

    def find(
        self, keys: Iterable[tuple[str, int]], since_ms: int
    ) -> dict[tuple[str, int], Session]:
        """The sessions known for these visitors, of those still going at `since_ms`."""
        known = self.sessions
        return {
            key: session
            for key in keys
            if (session := known.get(key)) is not None and session.last_ms >= since_ms
        }

    def remember(self, committed: Iterable[Session], *, logged: bool = False) -> None:
        """Sessions just committed (the latest of each visitor in its batch); the stored
        ones' changes went to the log if `logged`."""
        known = self.sessions
        newest = self.newest_ms
        for session in committed:
            key = (session.site_id, session.visitor_hash)
            if logged and session.stored:
                self.unfolded.add(key)
            current = known.get(key)
            if current is None or session.last_ms >= current.last_ms:
                known[key] = session
                if session.last_ms > newest:
                    newest = session.last_ms
        self.newest_ms = newest
        if len(known) > self.limit or newest - self._swept_ms > GAP_MS // 6:
            self._evict()

    def _evict(self) -> None:
        self._swept_ms = self.newest_ms
        horizon = self.newest_ms - GAP_MS
        unfolded = self.unfolded
        kept = {
            key: s for key, s in self.sessions.items() if s.last_ms >= horizon or key in unfolded
        }
        if len(kept) > self.limit:
            newest_first = sorted(
                kept.items(), key=lambda item: (item[0] in unfolded, item[1].last_ms), reverse=True
            )
            kept = dict(newest_first[: max(self.limit * 9 // 10, len(unfolded))])
        self.sessions = kept

    def folded(self) -> None:
        """The change log is folded into `sessions`: its rows are current again."""
        self.unfolded = set()

    def forget_slices(self, slices: Collection[int], slice_of: Callable[[str, int], int]) -> None:
        if slices and self.sessions:
            self.sessions = {
                key: s for key, s in self.sessions.items() if slice_of(*key) not in slices
            }
            self.unfolded = {key for key in self.unfolded if slice_of(*key) not in slices}

    def clear(self) -> None:
        self.sessions, self.unfolded = {}, set()


def visitor_keys(rows: Iterable[QueuedEvent]) -> set[tuple[str, int]]:
    return {(row.site_id, row.visitor_hash) for row in rows}


def add_visitor_counts(
    site_rows: list[dict[str, Any]],
    page_rows: list[dict[str, Any]],
    new_visitors: Mapping[tuple[Any, ...], int],
    new_page_visitors: Mapping[tuple[Any, ...], int],
) -> None:
    """Count each visitor new to its day (and page) in the rollup row of its first hour."""
    site_counts: dict[tuple[str, datetime], int] = defaultdict(int)
    for (_, site, _), at in new_visitors.items():
        site_counts[(site, from_epoch_ms(at - at % HOUR_MS))] += 1
    page_counts: dict[tuple[str, datetime, str], int] = defaultdict(int)
    for (_, site, path, _), at in new_page_visitors.items():
        page_counts[(site, from_epoch_ms(at - at % HOUR_MS), path)] += 1
    for row in site_rows:
        row["visitors"] = site_counts.get((row["site_id"], row["hour"]), 0)
    for row in page_rows:
        row["visitors"] = page_counts.pop((row["site_id"], row["hour"], row["path"]), 0)
    # A path first seen through a goal event has no page row yet in this batch.
    page_rows.extend(
        {
            "site_id": site,
            "hour": hour,
            "path": path,
            "pageviews": 0,
            "engaged_ms": 0,
            "entries": 0,
            "visitors": count,
        }
        for (site, hour, path), count in page_counts.items()
    )
