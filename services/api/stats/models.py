"""The tables of stats: saved segments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, table_of


class Segment(SQLModel, table=True):
    """A named filter tree of a site (the filter tree of POST /v1/query, as JSON), used in a
    query as the condition {"dimension": "segment", "op": "is", "values": [its id]}."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("site_id", "name", name="uq_segments_site_id_name"),)

    id: str = Field(sa_column=Column("id", String(32), primary_key=True))
    site_id: str = Field(
        sa_column=Column(
            "site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        )
    )
    name: str = Field(sa_column=Column("name", String(120), nullable=False))
    filters: dict[str, Any] = Field(sa_column=Column("filters", JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column("created_at", UtcDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column("updated_at", UtcDateTime(), nullable=False))


segments = table_of(Segment)
