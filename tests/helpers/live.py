"""A live all-in-one Overt on a loopback port, as the `live` fixture of tests/adversarial hands
it to a test: its URL, its site, its API key and ingest key, and the settings it serves with.

`BODY_SECONDS` is the live server's read timeout for a request's head or body (10 s by
default): short, so that the slow-client tests are short too.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.settings import Settings

BODY_SECONDS = 1.0


@dataclass(frozen=True)
class Live:
    url: str
    site_id: str
    key: str  # every scope of the API service
    ingest_key: str  # events:write only: POST /api/event as a backend sends it
    settings: Settings
