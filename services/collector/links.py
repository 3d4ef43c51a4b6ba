"""Tier 2 decided again when an event is stored: its link to a subject must still hold.

The collector links an event to its subject when the consent token checks out; the event
may then wait in the queue (a stopped or busy worker) while the subject withdraws or is
erased. Erasure removes the links of stored events, withdrawal stops new ones: neither can
reach an event still queued. So before a batch is stored, each linked event keeps its link
only if its subject is identifiable now, read from the consent ledger (the truth, shared
with the API: shared.consent_state), and was not revoked since the event (the published
revocations, as the collector checks them). A withdrawal thus takes effect for every event
not yet stored, the stricter reading: the worker cannot tell a queue's delay from the
visitor's. Events stored before keep their link, as before (erasure removes those).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from services.collector.records import DecodedEvent
from shared.consent_state import identified_subjects
from shared.consent_tokens import RevocationNotifier

log = logging.getLogger("overt.worker")


def keep_link(*, identifiable: bool, revoked_ms: int | None, event_ms: int) -> bool:
    """Whether an event stays linked: its subject identifiable now, and no revocation of
    the subject at or after the event's time (a later consent is a new token, new events)."""
    return identifiable and (revoked_ms is None or revoked_ms < event_ms)


async def recheck_links(
    *,
    conn: AsyncConnection,
    rows: Sequence[DecodedEvent],
    revocations: RevocationNotifier | None,
) -> int:
    """Clear `subject_id` of the events whose link no longer holds; returns how many."""
    subjects: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row.subject_id:
            subjects[row.site_id].add(row.subject_id)
    if not subjects:
        return 0
    identifiable: set[tuple[str, str]] = set()
    revoked: dict[tuple[str, str], int | None] = {}
    for site_id, site_subjects in subjects.items():
        found = await identified_subjects(conn=conn, site_id=site_id, subject_ids=site_subjects)
        identifiable.update((site_id, subject) for subject in found)
        if revocations is not None:
            for subject in site_subjects:
                revoked[(site_id, subject)] = await revocations.revoked_at(
                    site_id=site_id, subject_id=subject
                )
    unlinked = 0
    for row in rows:
        if not row.subject_id:
            continue
        key = (row.site_id, row.subject_id)
        if not keep_link(
            identifiable=key in identifiable, revoked_ms=revoked.get(key), event_ms=row.at
        ):
            row.subject_id = None
            unlinked += 1
    if unlinked:
        log.info("events unlinked at write time (consent ended)", extra={"events": unlinked})
    return unlinked
