"""The table of engagement definitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, table_of


class EngagementDefinition(SQLModel, table=True):
    """Append-only (database triggers, see migration 0200): a version is never edited or
    deleted."""

    __tablename__ = "engagement_definitions"

    site_id: str = Field(
        sa_column=Column(
            "site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
        )
    )
    version: int = Field(sa_column=Column("version", Integer, primary_key=True))
    created_at: datetime = Field(sa_column=Column("created_at", UtcDateTime(), nullable=False))
    body: dict[str, Any] = Field(sa_column=Column("body", JSON, nullable=False))


engagement_definitions = table_of(EngagementDefinition)
