"""Wire vocabulary of API keys: the scopes a key may hold."""

from __future__ import annotations

from enum import StrEnum


class KeyScope(StrEnum):
    stats_read = "stats:read"
    contacts_read = "contacts:read"
    outcomes_write = "outcomes:write"
    webhooks_manage = "webhooks:manage"
    # Changing a definition changes every answer (and contact scores) from then on: a key that
    # only reads stats must not be able to redefine "engaged", so writing needs its own scope.
    definitions_write = "definitions:write"
