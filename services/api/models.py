"""Tables the API owns."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table

from shared.db import UtcDateTime, metadata

# A key is shown once; only its SHA-256 is kept (256-bit random keys need no slow hash).
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(512), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)
