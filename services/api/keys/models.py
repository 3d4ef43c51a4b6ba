"""The table of API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, table_of


class ApiKey(SQLModel, table=True):
    """A key is shown once; only its SHA-256 is kept (256-bit random keys need no slow hash)."""

    __tablename__ = "api_keys"

    id: str = Field(sa_column=Column("id", String(32), primary_key=True))
    site_id: str = Field(
        sa_column=Column(
            "site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        )
    )
    key_hash: str = Field(sa_column=Column("key_hash", String(64), nullable=False, unique=True))
    scopes: str = Field(sa_column=Column("scopes", String(512), nullable=False))
    created_at: datetime = Field(sa_column=Column("created_at", UtcDateTime(), nullable=False))
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column("revoked_at", UtcDateTime(), nullable=True)
    )
    # requests per window; None: the setting
    rate_limit: int | None = Field(
        default=None, sa_column=Column("rate_limit", Integer, nullable=True)
    )


api_keys = table_of(ApiKey)
