"""What the ingest worker does with a batch that the database refuses for its data.

A batch that fails with a data fault (see shared.dialect.is_data_fault: anything but a
database that is down, slow or locked) is bisected: its entries are written in halves, a
half that fails is halved again, and an entry that fails alone is split into its events
(a Redis entry merges the payloads of many requests, so one bad event must not take the
others with it). An entry or event that fails alone, while the database answers a probe,
goes to the dead letter (shared.deadletter) with its error, a metric and a log line (its
type and id, never its payload); everything else is stored. The caller acknowledges the
batch once this returns. An infrastructure fault on the way stops the bisection and is
raised: the caller puts the batch back and retries it with backoff (what was stored is
not stored twice, what was dead-lettered is not dead-lettered twice).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.deadletter import DeadLetters, dead_letter
from shared.dialect import is_data_fault
from shared.metrics import INGEST_DEAD_LETTERS
from shared.queue import Delivery

log = logging.getLogger("overt.worker")

Write = Callable[[Sequence[Delivery]], Awaitable[int]]


@dataclass(slots=True)
class Isolated:
    """What a bisection did: events stored, payloads dead-lettered."""

    stored: int = 0
    dead_letters: int = 0


def split_payload(payload: bytes) -> list[bytes]:
    """A queue entry's records, each as an entry of its own; [] unless it is a JSON array of
    several. The stdlib parser, not the worker's: it keeps integers of any size, so a
    record is dead-lettered as it came."""
    try:
        records = json.loads(payload)
    except (ValueError, RecursionError):
        return []
    if not isinstance(records, list) or len(records) < 2:
        return []
    return [json.dumps([record], separators=(",", ":")).encode() for record in records]


def by_visitor(payload: bytes) -> list[tuple[bytes, tuple[str, int] | None]]:
    """A queue entry as entries of one visitor each, with that visitor (site, visitor hash)
    for the queue's affinity; the entry whole, with no visitor, when it does not parse, and
    byte for byte when it holds one visitor."""
    try:
        records = json.loads(payload)
    except (ValueError, RecursionError):
        return [(payload, None)]
    if not isinstance(records, list):
        return [(payload, None)]
    groups: dict[tuple[str, int] | None, list[Any]] = {}
    for record in records:
        site = record.get("site") if isinstance(record, dict) else None
        visitor = record.get("visitor") if isinstance(record, dict) else None
        key = (site, visitor) if isinstance(site, str) and type(visitor) is int else None
        groups.setdefault(key, []).append(record)
    if len(groups) == 1:  # the entry as it came (its dead-letter id is a hash of its bytes)
        return [(payload, next(iter(groups)))]
    return [(json.dumps(part, separators=(",", ":")).encode(), key) for key, part in groups.items()]


def halves(part: Sequence[Delivery]) -> list[list[Delivery]]:
    """`part` in two (a single entry: its events in two), or [] when it cannot be split."""
    if len(part) == 1:
        pieces = [Delivery(part[0].id, piece) for piece in split_payload(part[0].payload)]
    else:
        pieces = list(part)
    if len(pieces) < 2:
        return []
    middle = len(pieces) // 2
    return [pieces[:middle], pieces[middle:]]


async def probe(engine: AsyncEngine) -> None:
    """Raise unless the database answers: an entry that fails alone is its own fault only
    while the database works."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


# Failures that are nobody's data: retried, never isolated.
Benign = type[BaseException] | tuple[type[BaseException], ...]


def is_entry_fault(exc: BaseException, *, benign: Benign) -> bool:
    """A data fault that is not one of the `benign` failures (two writers' race, a lost
    lease: retried as before)."""
    return not isinstance(exc, benign) and is_data_fault(exc)


async def isolate_faults(
    *,
    write: Write,
    engine: AsyncEngine,
    dead_letters: DeadLetters,
    deliveries: Sequence[Delivery],
    benign: Benign,
) -> Isolated:
    """Store what can be stored of `deliveries`, dead-letter each entry or event that fails
    alone (see the module's docstring). Raises on an infrastructure fault."""
    done = Isolated()
    parts = halves(deliveries) or [list(deliveries)]
    parts.reverse()  # a stack: the first half first
    while parts:
        part = parts.pop()
        try:
            done.stored += await write(part)
            continue
        except Exception as exc:
            if not is_entry_fault(exc, benign=benign):
                raise
            error = exc
        smaller = halves(part)
        if smaller:
            parts.extend(reversed(smaller))
            continue
        await probe(engine)
        entry = dead_letter(part[0].payload, part[0].id, error)
        if await dead_letters.put(entry):
            INGEST_DEAD_LETTERS.labels(entry.error_type).inc()
            log.warning(
                "dead-lettered a queue entry (%s); see `overt deadletter show %s`",
                entry.error_type,
                entry.id,
            )
        done.dead_letters += 1
    return done
