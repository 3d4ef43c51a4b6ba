"""The characters both databases store, and the request shapes that keep to them.

PostgreSQL's text cannot hold NUL; UTF-8, both backends' encoding, cannot hold a lone
surrogate (JSON's "\\ud800" spells one). SQLite takes NUL, so a value with one is stored on
one backend and is a 500 on the other, in a write and in a read (a bound parameter of a
WHERE clause is text too). What a client sends is therefore refused (422) where it enters:
a JSON body through `StorableBody`, an id in a path through `IdPath`, any other parameter
through `StorableText`. The collector clamps what it derives with `strip_unstorable`. A
body's numbers must be finite too (Infinity reads as JSON in Python, not in PostgreSQL),
and JSON numbers: a body's number field is a `JsonInt` or a `JsonFloat`, never a bare int
or float, which pydantic's lax mode fills from `true`, `false` or "1".
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Final

from fastapi import Path
from pydantic import AfterValidator, BaseModel, Strict, model_validator

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_REASON: Final = "Contains NUL or an unpaired surrogate"
NOT_FINITE_REASON: Final = "Not a finite number"


def storable(text: str) -> bool:
    """True when both databases can store these characters: no NUL, no lone surrogate.

    ASCII text (nearly all of it) costs an isascii() and a substring search, both in C."""
    if text.isascii():
        return "\x00" not in text
    return _UNSTORABLE.search(text) is None


def strip_unstorable(text: str) -> str:
    """`text` without the characters no database stores."""
    return text if storable(text) else _UNSTORABLE.sub("", text)


def unstorable_at(data: object, where: str = "") -> tuple[str, str] | None:
    """Where in decoded JSON (`data`) the first value no database stores is, as a dotted path
    ("" for the top), and why; None when every one is storable. Strings (keys and values)
    must be storable; numbers finite: Python's JSON reader takes Infinity and NaN, which no
    JSON column holds (PostgreSQL refuses them, SQLite stored them)."""
    if isinstance(data, str):
        return None if storable(data) else (where, UNSTORABLE_REASON)
    if isinstance(data, float):
        return None if math.isfinite(data) else (where, NOT_FINITE_REASON)
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and not storable(key):
                return (where or "(a key)", UNSTORABLE_REASON)
            found = unstorable_at(value, f"{where}.{key}" if where else str(key))
            if found is not None:
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found = unstorable_at(value, f"{where}[{index}]")
            if found is not None:
                return found
    return None


def _check_storable(text: str) -> str:
    if not storable(text):
        raise ValueError(UNSTORABLE_REASON)
    return text


# A query or header parameter taken as text (pydantic reports the ValueError as a 422).
StorableText = Annotated[str, AfterValidator(_check_storable)]
# An id in a path: the ids Overt makes (hex tokens, site ids) are these characters only.
IdPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
# A number in a JSON body is a JSON number: lax, `true` was stored as 1, `false` as 0 and
# "1" as 1 where the documented schema says integer or number. A JsonFloat takes a JSON
# integer too (2 is 2.0). Query and path parameters stay `int`: they are text, read as
# numbers (and `true` is no number there).
JsonInt = Annotated[int, Strict()]
JsonFloat = Annotated[float, Strict()]


class StorableBody(BaseModel):
    """A JSON request body whose every string (key or value) and number, at any depth, is
    storable.

    One check of the raw document before the fields are validated, so no free-text field
    (a name, a filter value, a campaign) can be added without it."""

    @model_validator(mode="before")
    @classmethod
    def _storable_strings(cls, data: Any) -> Any:
        found = unstorable_at(data)
        if found is not None:
            where, reason = found
            raise ValueError(f"{reason}: {where or 'the body'}")
        return data
