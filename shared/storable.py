"""The characters both databases store, and the request shapes that keep to them.

PostgreSQL's text cannot hold NUL; UTF-8, both backends' encoding, cannot hold a lone
surrogate (JSON's "\\ud800" spells one). SQLite takes NUL, so a value with one is stored on
one backend and is a 500 on the other, in a write and in a read (a bound parameter of a
WHERE clause is text too). What a client sends is therefore refused (422) where it enters:
a JSON body through `StorableBody`, an id in a path through `IdPath`, any other parameter
through `StorableText`. The collector clamps what it derives with `strip_unstorable`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from fastapi import Path
from pydantic import AfterValidator, BaseModel, model_validator

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_REASON: Final = "Contains NUL or an unpaired surrogate"


def storable(text: str) -> bool:
    """True when both databases can store these characters: no NUL, no lone surrogate.

    ASCII text (nearly all of it) costs an isascii() and a substring search, both in C."""
    if text.isascii():
        return "\x00" not in text
    return _UNSTORABLE.search(text) is None


def strip_unstorable(text: str) -> str:
    """`text` without the characters no database stores."""
    return text if storable(text) else _UNSTORABLE.sub("", text)


def unstorable_at(data: object, where: str = "") -> str | None:
    """Where in decoded JSON (`data`) the first unstorable string is, a key or a value, as a
    dotted path ("" for the top), or None when every string is storable."""
    if isinstance(data, str):
        return None if storable(data) else where
    if isinstance(data, dict):
        for key, value in data.items():
            inner = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and not storable(key):
                return where or "(a key)"
            found = unstorable_at(value, inner)
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


class StorableBody(BaseModel):
    """A JSON request body whose every string, at any depth, key or value, is storable.

    One check of the raw document before the fields are validated, so no free-text field
    (a name, a filter value, a campaign) can be added without it."""

    @model_validator(mode="before")
    @classmethod
    def _storable_strings(cls, data: Any) -> Any:
        where = unstorable_at(data)
        if where is not None:
            raise ValueError(f"{UNSTORABLE_REASON}: {where or 'the body'}")
        return data
