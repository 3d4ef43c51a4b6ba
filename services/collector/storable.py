"""What the `events` table can store: each text column's length and the characters allowed.

The one home of both rules. Intake refuses (422) a value the client controls that breaks
them, and clamps (`clamp`) one that enrichment derives, so every event answered 202 can be
written on both backends: PostgreSQL refuses NUL in text and a value longer than its
VARCHAR(n), where SQLite takes both (and one such event used to stop the worker).

The lengths are read off the table definition, so a migration that widens a column widens
what intake accepts, with nothing else to change.
"""

from __future__ import annotations

import re
from typing import Final, overload

from sqlalchemy import String

from shared.models import events

# Column name -> the most characters it holds (VARCHAR(n) counts characters, as len() does).
LIMIT: Final[dict[str, int]] = {
    column.name: column.type.length
    for column in events.c
    if isinstance(column.type, String) and column.type.length is not None
}

# PostgreSQL's text cannot hold NUL; UTF-8, both backends' encoding, cannot hold a lone
# surrogate (JSON's "\ud800" spells one; msgspec refuses it today, this does not rely on it).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_REASON: Final = "Contains NUL or an unpaired surrogate"


def storable(text: str) -> bool:
    """True when both databases can store these characters: no NUL, no lone surrogate.

    ASCII text (nearly all of it) costs an isascii() and a substring search, both in C."""
    if text.isascii():
        return "\x00" not in text
    return _UNSTORABLE.search(text) is None


def too_long(column: str, text: str) -> str | None:
    """Why `text` does not fit `column`, or None when it does."""
    limit = LIMIT[column]
    return f"Longer than {limit} characters" if len(text) > limit else None


def strip_unstorable(text: str) -> str:
    """`text` without the characters no database stores."""
    return text if storable(text) else _UNSTORABLE.sub("", text)


@overload
def clamp(column: str, text: str) -> str: ...
@overload
def clamp(column: str, text: None) -> None: ...
@overload
def clamp(column: str, text: str | None) -> str | None: ...
def clamp(column: str, text: str | None) -> str | None:
    """A derived value made storable in `column`: unstorable characters dropped, then cut
    to the column's length. For what enrichment derives, never for what the client sent."""
    if text is None:
        return None
    return strip_unstorable(text)[: LIMIT[column]]


PropValue = str | int | float | bool
# The integers a JSON column stores as integers on both databases (and orjson writes).
INT64 = range(-(2**63), 2**63)


def storable_props(props: dict[str, PropValue]) -> dict[str, PropValue]:
    """Props as stored: an integer past 64 bits becomes the float it would be read as."""
    return {
        key: float(value)
        if isinstance(value, int) and not isinstance(value, bool) and value not in INT64
        else value
        for key, value in props.items()
    }
