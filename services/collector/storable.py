"""What the `events` table can store: each text column's length and the characters allowed.

The one home of the lengths (the characters are shared/storable.py's, which the API keeps
to as well). Intake refuses (422) a value the client controls that breaks them, and clamps
(`clamp`) one that enrichment derives, so every event answered 202 can be written on both
backends: PostgreSQL refuses NUL in text and a value longer than its
VARCHAR(n), where SQLite takes both (and one such event used to stop the worker).

The lengths are read off the table definition, so a migration that widens a column widens
what intake accepts, with nothing else to change.
"""

from __future__ import annotations

from typing import Final, overload

from sqlalchemy import String

from shared.models import events
from shared.storable import UNSTORABLE_REASON, storable, strip_unstorable

__all__ = ["LIMIT", "UNSTORABLE_REASON", "clamp", "storable", "strip_unstorable", "too_long"]

# Column name -> the most characters it holds (VARCHAR(n) counts characters, as len() does).
LIMIT: Final[dict[str, int]] = {
    column.name: column.type.length
    for column in events.c
    if isinstance(column.type, String) and column.type.length is not None
}


def too_long(column: str, text: str) -> str | None:
    """Why `text` does not fit `column`, or None when it does."""
    limit = LIMIT[column]
    return f"Longer than {limit} characters" if len(text) > limit else None


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
