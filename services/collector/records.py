"""The queue record: what the collector enqueues and the ingest worker stores.

One definition for both sides. The collector builds `QueuedEvent`s after enrichment and
encodes a request's events as one JSON array; the worker decodes whole entries straight
into these structs (msgspec, in C: ids stay hex text, nothing passes through a dict) and
hands `copy_record` tuples to COPY. Attribute names are `events` column names; the JSON
keys are the short names of the record format below, which is internal (never on the
public wire, see WIRE.md) but may outlive a process in Redis, so only add optional keys.

    {"id": hex, "site": str, "at": epoch ms, "name": str, "visitor": int64,
     "host": str, "path": str, ... optional enrichment ...}
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, TypeAlias

import msgspec
import orjson
from asyncpg.pgproto import pgproto

from shared.dialect import PG_EPOCH_MS, Stamp

# The worker's session ids: asyncpg's UUID, a uuid.UUID subclass written in C. COPY
# writes its 16 bytes as they are, where a uuid.UUID goes through its Python `bytes`
# property (several times slower), and it keeps its hash, so the worker's
# dicts of sessions key on the ids themselves. Equal to, and hashed like, a uuid.UUID of
# the same value.
Id: TypeAlias = pgproto.UUID

# An event's (or pageview's) id as the worker holds it: the 32 lowercase hex digits the
# collector wrote (uuid_format="hex" below, from a uuid.UUID it validated), kept as text.
# Text needs no object made per id and hashes and sorts in C (in id order: hex digits
# sort as the bytes do); COPY parses it into a uuid (asyncpg, in C), and on SQLite it is
# the stored form. Ids read back from the database are uuid.UUIDs: their `.hex` is this.
HexId: TypeAlias = Annotated[str, msgspec.Meta(min_length=32, max_length=32)]


class QueuedEvent(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """One accepted, enriched event. Fields up to `session_utm_campaign` are the `events`
    row, in order."""

    # The collector's: a uuid.UUID; decoded by the worker: hex text (DecodedEvent).
    event_id: uuid.UUID | str = msgspec.field(name="id")
    site_id: str = msgspec.field(name="site")
    occurred_at: Stamp | None = None  # from `at`, set by decode_entry
    name: str
    visitor_hash: int = msgspec.field(name="visitor")
    host: str
    path: str
    referrer: str | None = None
    engaged_ms: int | None = None
    source: str | None = None
    medium: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    browser: str | None = None
    os: str | None = None
    browser_version: str | None = None
    os_version: str | None = None
    device: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    # JSON text, so COPY takes it as is; records written before this format carried an object.
    props: str | dict[str, Any] | None = None
    analytics_id: str | None = None
    pageview_id: uuid.UUID | str | None = msgspec.field(default=None, name="pageview")
    scroll_depth: int | None = msgspec.field(default=None, name="scroll")
    gpc: bool = False
    subject_id: str | None = msgspec.field(default=None, name="subject")
    # The session's id, entry page and attribution: columns of the `events` row, which
    # sessionisation fills from the session (copy_record); never set here nor on the queue.
    session_id: uuid.UUID | None = None
    session_entry_path: str | None = None
    session_referrer: str | None = None
    session_source: str | None = None
    session_medium: str | None = None
    session_utm_source: str | None = None
    session_utm_medium: str | None = None
    session_utm_campaign: str | None = None
    # Not columns:
    at: int


EVENT_COLUMNS: tuple[str, ...] = QueuedEvent.__struct_fields__[
    : QueuedEvent.__struct_fields__.index("session_utm_campaign") + 1
]
_COLUMN_COUNT = len(EVENT_COLUMNS)


class DecodedEvent(QueuedEvent, kw_only=True):
    """A QueuedEvent as the worker decodes it: its ids are hex text (`HexId`)."""

    event_id: HexId = msgspec.field(name="id")
    pageview_id: HexId | None = msgspec.field(default=None, name="pageview")


_encoder = msgspec.json.Encoder(uuid_format="hex")
_entry = msgspec.json.Decoder(list[DecodedEvent])


def encode_entry(records: list[QueuedEvent]) -> bytes:
    return _encoder.encode(records)


def decode_entry(payload: bytes) -> list[DecodedEvent]:
    """A queue entry's events, with `occurred_at` set and props as JSON text."""
    events = _entry.decode(payload)
    for event in events:
        event.occurred_at = ((event.at - PG_EPOCH_MS) * 1000,)  # stamp(event.at), inlined
        if isinstance(event.props, dict):
            event.props = orjson.dumps(event.props).decode()
    return events


_OWN_COLUMNS = EVENT_COLUMNS.index("session_id")  # the event's own; its session's follow
NO_SESSION: tuple[None, ...] = (None,) * (_COLUMN_COUNT - _OWN_COLUMNS)


def copy_record(
    event: QueuedEvent, session_columns: tuple[Any, ...] = NO_SESSION
) -> tuple[Any, ...]:
    """The `events` row of an event, in EVENT_COLUMNS order: its own columns, then its
    session's (`session_id` and the session columns; see Session.event_columns)."""
    return msgspec.structs.astuple(event)[:_OWN_COLUMNS] + session_columns
