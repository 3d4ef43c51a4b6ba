"""Wire format v1 of the snippet (see WIRE.md): terse keys, decoded and validated by msgspec.

msgspec rather than pydantic on this path: /e is the hot path, and msgspec decodes and
validates straight from bytes several times faster, which the intake throughput goal needs.

The two regex patterns (site id, analytics id) are in the schema but checked by intake
(Intake.take), not by the decoder: msgspec's pattern check cost as much per field as
decoding the rest of an event, several times a compiled regex's cost. Intake checks
a site id only when it is not a cached site's (a cached one matched when it was created).
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

import msgspec

from services.collector.storable import LIMIT

MAX_BATCH = 50
MAX_PROPS = 30

SITE_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
HEX32_PATTERN = r"^[0-9a-fA-F]{32}$"
SITE_ID = re.compile(SITE_ID_PATTERN)
HEX32 = re.compile(HEX32_PATTERN)

SiteId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=32, extra_json_schema={"pattern": SITE_ID_PATTERN})
]
Hex32 = Annotated[
    str, msgspec.Meta(min_length=32, max_length=32, extra_json_schema={"pattern": HEX32_PATTERN})
]
PropKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# Numbers keep their type: an integer stays one (3, not 3.0) from intake to query.
PropValue = Annotated[str, msgspec.Meta(max_length=256)] | int | float | bool


class EventIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One event as the snippet sends it."""

    site_id: SiteId = msgspec.field(name="s")
    # Decoded to a UUID in C; the canonical hyphenated form is accepted too.
    event_id: uuid.UUID = msgspec.field(name="i")
    # Its length is its column's (storable.py); its characters are checked by intake.
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=LIMIT["name"])] = msgspec.field(
        name="n"
    )
    url: Annotated[str, msgspec.Meta(min_length=8, max_length=2048)] = msgspec.field(name="u")
    referrer: Annotated[str, msgspec.Meta(max_length=2048)] | None = msgspec.field(
        default=None, name="r"
    )
    client_time_ms: Annotated[int, msgspec.Meta(ge=0)] | None = msgspec.field(
        default=None, name="t"
    )
    pageview_id: uuid.UUID | None = msgspec.field(default=None, name="v")
    engaged_ms: Annotated[int, msgspec.Meta(ge=0, le=86_400_000)] | None = msgspec.field(
        default=None, name="e"
    )
    scroll_depth: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = msgspec.field(
        default=None, name="d"
    )
    props: Annotated[dict[PropKey, PropValue], msgspec.Meta(max_length=MAX_PROPS)] | None = (
        msgspec.field(default=None, name="p")
    )
    analytics_id: Hex32 | None = msgspec.field(default=None, name="a")
    gpc: Annotated[int, msgspec.Meta(ge=0, le=1)] | None = msgspec.field(default=None, name="g")
    hash_routing: Annotated[int, msgspec.Meta(ge=0, le=1)] | None = msgspec.field(
        default=None, name="h"
    )
    consent_token: Annotated[str, msgspec.Meta(max_length=2048)] | None = msgspec.field(
        default=None, name="k"
    )
    # 1: the visitor gave analytics consent on a page whose tag says data-consent="required"
    # (sent even when the browser keeps no storage, so no `a` can say it)
    analytics_consent: Annotated[int, msgspec.Meta(ge=0, le=1)] | None = msgspec.field(
        default=None, name="c"
    )

    @property
    def has_analytics_consent(self) -> bool:
        """What a site that requires consent needs before it stores an event: the tier-1 id
        (set only after analytics consent) or the page's word that consent was given."""
        return self.analytics_id is not None or self.analytics_consent == 1


Body = EventIn | Annotated[list[EventIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]

decoder = msgspec.json.Decoder(Body)


def pattern_error(pattern: str, where: str) -> str:
    """A failed pattern in msgspec's words, so InvalidEvent reads it like the decoder's."""
    return f"Expected `str` matching regex {pattern!r} - at `{where}`"


def inline_schema(body: object) -> dict[str, Any]:
    """JSON Schema of a msgspec type with its references inlined, for an operation of the
    OpenAPI document: a `#/$defs/...` reference there would point into the document's root,
    where nothing is (the types are not recursive, so inlining ends)."""
    schema, components = msgspec.json.schema_components([body], ref_template="{name}")

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                return inline(components[node["$ref"]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    inlined: dict[str, Any] = inline(schema[0])
    return inlined


def body_schema() -> dict[str, Any]:
    """JSON Schema of the body, for the OpenAPI document."""
    return inline_schema(Body)
