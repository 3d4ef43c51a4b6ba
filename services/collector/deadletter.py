"""The operator's side of the ingest dead letter (`overt deadletter ...`): list, show, replay,
drop. What goes into it and why: services.collector.faults; where it is kept:
shared.deadletter.

Replay puts a dead letter back on the way to the database and removes it from the dead
letter. With Redis it is published to the event stream again (a worker stores it, or
dead-letters it again if it still fails). The in-process queue lives inside the `overt up`
process, out of this command's reach: there replay stores it here and now, through the
worker's own write path, and a failure leaves it in the dead letter and is reported.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.collector.faults import by_visitor
from services.collector.worker import write_events
from shared.deadletter import DeadLetterEntry, open_dead_letters
from shared.dialect import root_error
from shared.queue import Delivery, RedisStreamQueue
from shared.runtime import Resources


@dataclass(slots=True)
class ReplayReport:
    replayed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # id -> the error's type and message


def payload_records(entry: DeadLetterEntry) -> list[Any] | None:
    """The records of a dead letter's payload, or None if it is not JSON."""
    try:
        records = json.loads(entry.payload)
    except (ValueError, RecursionError):
        return None
    return records if isinstance(records, list) else [records]


async def list_dead_letters(*, resources: Resources) -> list[DeadLetterEntry]:
    """Every dead letter, oldest first."""
    return await open_dead_letters(resources).entries()


async def get_dead_letter(*, resources: Resources, entry_id: str) -> DeadLetterEntry:
    """One dead letter; LookupError if there is none with that id."""
    entry = await open_dead_letters(resources).get(entry_id)
    if entry is None:
        raise LookupError(f"no dead letter with id {entry_id!r}")
    return entry


async def _chosen(resources: Resources, entry_ids: Sequence[str] | None) -> list[DeadLetterEntry]:
    if entry_ids is None:
        return await list_dead_letters(resources=resources)
    return [await get_dead_letter(resources=resources, entry_id=one) for one in entry_ids]


async def replay_dead_letters(
    *, resources: Resources, entry_ids: Sequence[str] | None = None
) -> ReplayReport:
    """Put these dead letters (None: all) back on the way to the database (see above)."""
    dead_letters = open_dead_letters(resources)
    report = ReplayReport()
    for entry in await _chosen(resources, entry_ids):
        try:
            if isinstance(resources.queue, RedisStreamQueue):
                # Each visitor's records to that visitor's slice, as the collector sends them.
                for part, visitor in by_visitor(entry.payload):
                    await resources.queue.publish(part, visitor=visitor)
            else:
                await write_events(
                    engine=resources.engine,
                    deliveries=[Delivery(entry.delivery_id, entry.payload)],
                    revocations=resources.revocations,
                )
        except Exception as exc:
            root = root_error(exc)
            report.failed[entry.id] = f"{type(root).__name__}: {str(root)[:300]}"
            continue
        await dead_letters.remove([entry.id])
        report.replayed.append(entry.id)
    return report


async def drop_dead_letters(*, resources: Resources, entry_ids: Sequence[str] | None = None) -> int:
    """Forget these dead letters (None: all) for good; returns how many were dropped."""
    chosen = await _chosen(resources, entry_ids)
    return await open_dead_letters(resources).remove([entry.id for entry in chosen])
