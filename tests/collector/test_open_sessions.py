"""OpenSessions: the open sessions a worker keeps for the visitors it owns, bounded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from services.collector.sessions import GAP_MS, OpenSessions, Session
from services.collector.worker import Carry, prepare_batch, write_events
from shared.queue import Delivery
from shared.runtime import Resources
from shared.sites import create_site


def session(visitor: int, last_ms: int, site_id: str = "site") -> Session:
    return Session(
        session_id=uuid.uuid4(),
        site_id=site_id,
        visitor_hash=visitor,
        started_ms=last_ms - 1000,
        last_ms=last_ms,
        entry_path="/",
        exit_path="/",
    )


def test_the_latest_committed_session_per_visitor_is_found_while_still_open() -> None:
    known = OpenSessions()
    older, newer = session(1, 10_000), session(1, 20_000)
    known.remember([newer])
    known.remember([older])  # an older one never replaces a newer one
    assert known.find({("site", 1), ("site", 2)}, since_ms=0) == {("site", 1): newer}
    assert known.find({("site", 1)}, since_ms=20_001) == {}  # closed by then: read it


def test_sessions_idle_past_the_gap_are_dropped() -> None:
    known = OpenSessions()
    known.remember([session(1, 0), session(2, GAP_MS)])
    known.remember([session(3, 2 * GAP_MS)])  # visitor 1 idle for two gaps now
    assert set(known.sessions) == {("site", 2), ("site", 3)}


def test_the_count_is_capped_keeping_the_most_recently_seen() -> None:
    known = OpenSessions(limit=100)
    known.remember([session(visitor, 1000 + visitor) for visitor in range(150)])
    assert len(known) <= 100
    assert ("site", 149) in known.sessions
    assert ("site", 0) not in known.sessions


def test_slices_taken_over_or_lost_are_forgotten() -> None:
    known = OpenSessions()
    known.remember([session(visitor, 1000) for visitor in range(10)])
    known.forget_slices({1}, lambda site_id, visitor: visitor % 2)
    assert {visitor for _, visitor in known.sessions} == {0, 2, 4, 6, 8}
    known.clear()
    assert len(known) == 0


@pytest.mark.anyio
async def test_a_batch_continues_the_session_kept_in_memory_and_reads_the_others(
    resources: Resources,
) -> None:
    site = await create_site(engine=resources.engine, domain="example.com")
    now = int(datetime.now(UTC).timestamp() * 1000)

    def entry(visitor: int, at: int) -> Delivery:
        event = {"id": uuid.uuid4().hex, "site": site.id, "at": at, "name": "pageview",
                 "visitor": visitor, "host": "example.com", "path": "/"}  # fmt: skip
        return Delivery(uuid.uuid4().hex, orjson.dumps([event]))

    await write_events(engine=resources.engine, deliveries=[entry(1, now), entry(2, now)])
    # What this worker committed since, kept in memory: newer than the row it read before.
    kept = session(1, now + 5, site_id=site.id)
    known = OpenSessions()
    known.remember([kept])

    prepared = await prepare_batch(
        engine=resources.engine,
        deliveries=[entry(1, now + 10), entry(2, now + 10)],
        carry=Carry(),
        known=known,
    )
    assert prepared.open_sessions[(site.id, 1)] is kept
    from_database = prepared.open_sessions[(site.id, 2)]  # not kept: read
    assert from_database.last_ms == now
    assert from_database.pageviews == 1
