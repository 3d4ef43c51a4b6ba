"""The table of goals: a site's registered conversions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, table_of


class Goal(SQLModel, table=True):
    """A page goal (`page`: a path pattern) or a custom-event goal (`event`, optionally
    `props` to match), a revenue goal when it has a `currency`. `name` is what reports show;
    unique per site."""

    __tablename__ = "goals"
    __table_args__ = (UniqueConstraint("site_id", "name", name="uq_goals_site_id_name"),)

    id: str = Field(sa_column=Column("id", String(32), primary_key=True))
    site_id: str = Field(
        sa_column=Column(
            "site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        )
    )
    name: str = Field(sa_column=Column("name", String(300), nullable=False))
    page: str | None = Field(default=None, sa_column=Column("page", String(256), nullable=True))
    event: str | None = Field(default=None, sa_column=Column("event", String(120), nullable=True))
    props: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    currency: str | None = Field(
        default=None, sa_column=Column("currency", String(3), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column("created_at", UtcDateTime(), nullable=False))


goals = table_of(Goal)
