"""Wire model of a site's public keys."""

from __future__ import annotations

from pydantic import BaseModel


class KeysOut(BaseModel):
    keys: list[dict[str, str]]
