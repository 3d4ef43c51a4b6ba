"""Continuing sessions written late: changes logged with their batch, folded in later.

A batch that continues stored sessions used to update each one's `sessions` row in its
transaction: one row update per continuing visitor per batch, the drain's main cost when
many visitors each have an event in every batch. With OVERT_SESSION_FOLD_MS above 0 (off
by default: `sessions` then lags its events) the batch appends the sessions' new totals
to `session_changes`, one row per queue slice (a JSON array), in the same transaction as
its events, so they commit or fail together. The worker keeps those
sessions in memory (sessions.OpenSessions, which never drops one not folded yet), and
folds the log into `sessions` (`fold_changes`): when the queue runs dry, at least every
OVERT_SESSION_FOLD_MS under a backlog, when it stops, after a failed write (before it
reads sessions from the database again), and before it reads a slice it takes over (its
holder before may have died with changes not folded). A fold costs what one batch's
updates used to: under a backlog it now comes once per many batches.

Folding writes each session's latest logged totals (the log's order is commit order: a
slice has one writer at a time, fenced by its lease) and deletes what it folded, in one
transaction. Totals, not increments: folding twice, or a change already in `sessions`,
counts nothing twice. Until a fold, `sessions` lags the events by up to that long.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from typing import Any

import orjson
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.collector.sessions import Session, from_epoch_ms
from shared.dialect import in_clauses, update_rows, upsert
from shared.models import daily_dirty, session_changes, sessions

FOLD_SESSIONS = 200_000  # folded sooner when this many sessions wait (memory holds them)


def change_of(session: Session) -> list[Any]:
    """What a batch changed in a stored session: its columns that events change."""
    return [
        session.session_id.hex,
        session.started_ms,
        session.last_ms,
        session.exit_path,
        session.pageviews,
        session.events,
        session.goals,
        session.engaged_ms,
        session.max_scroll_depth,
        session.context.get("analytics_id"),
    ]


def update_of(change: list[Any]) -> dict[str, Any]:
    """The `sessions` update (Session.update_row's columns) of a logged change."""
    (session_id, started, last, exit_path, pageviews, events, goals, engaged, scroll, aid) = change
    return {
        "session_id": uuid.UUID(hex=session_id),
        "started_at": from_epoch_ms(started),
        "last_seen_at": from_epoch_ms(last),
        "exit_path": exit_path,
        "pageviews": pageviews,
        "events": events,
        "goals": goals,
        "engaged_ms": engaged,
        "max_scroll_depth": scroll,
        "analytics_id": aid,
    }


async def log_changes(
    conn: AsyncConnection, changed: Iterable[Session], slice_of: Callable[[str, int], int]
) -> None:
    """Append changed stored sessions to the log, one row per slice (in the batch's
    transaction)."""
    by_slice: dict[int, list[list[Any]]] = defaultdict(list)
    for session in changed:
        by_slice[slice_of(session.site_id, session.visitor_hash)].append(change_of(session))
    if by_slice:
        await conn.execute(
            insert(session_changes),
            [{"slice": index, "changes": orjson.dumps(rows)} for index, rows in by_slice.items()],
        )


async def _mark_days(conn: AsyncConnection, updates: list[dict[str, Any]]) -> None:
    """Mark the days of the folded sessions for the daily rollups to rebuild (their bounce
    and duration changed only now, in `sessions`; shared/models.py DailyStats)."""
    site_of: dict[uuid.UUID, str] = {}
    ids = [update["session_id"] for update in updates]
    for clause in in_clauses(conn, sessions.c.session_id, ids):
        found = await conn.execute(select(sessions.c.session_id, sessions.c.site_id).where(clause))
        site_of.update({row.session_id: row.site_id for row in found})
    days = {
        (site_of[update["session_id"]], moment.date())
        for update in updates
        if update["session_id"] in site_of
        for moment in (update["started_at"], update["last_seen_at"])
    }
    rows = [{"site_id": site, "day": day, "generation": 1} for site, day in sorted(days)]
    await upsert(conn, daily_dirty, rows, keys=["site_id", "day"], add=["generation"])


async def fold_changes(conn: AsyncConnection, slices: Collection[int] | None) -> int:
    """Write the latest logged totals of these slices' sessions (None: every slice's) into
    `sessions` and delete the log rows folded; returns how many sessions were written.
    The caller commits."""
    query = select(session_changes.c.id, session_changes.c.changes).order_by(session_changes.c.id)
    if slices is not None:
        if not slices:
            return 0
        query = query.where(session_changes.c.slice.in_(sorted(slices)))
    logged = (await conn.execute(query)).all()
    if not logged:
        return 0
    latest: dict[str, list[Any]] = {}
    for row in logged:  # in commit order: a later change of a session replaces an earlier one
        for change in orjson.loads(row.changes):
            latest[change[0]] = change
    updates = [update_of(change) for change in latest.values()]
    await update_rows(conn, sessions, updates, key="session_id")
    await _mark_days(conn, updates)
    for clause in in_clauses(conn, session_changes.c.id, [row.id for row in logged]):
        await conn.execute(delete(session_changes).where(clause))
    return len(latest)
