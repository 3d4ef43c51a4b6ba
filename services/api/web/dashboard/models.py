"""The tables of the dashboard: shared links and annotations."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, table_of


class DashboardShare(SQLModel, table=True):
    """A read-only link to one site's dashboard (`/share/{token}`): only the token's hash is
    kept (the link is shown once), with an optional password's argon2 hash."""

    __tablename__ = "dashboard_shares"
    __table_args__ = (Index("ix_dashboard_shares_site_id", "site_id"),)

    id: str = Field(sa_column=Column("id", String(32), primary_key=True))
    site_id: str = Field(
        sa_column=Column(
            "site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        )
    )
    token_hash: str = Field(sa_column=Column("token_hash", String(64), nullable=False, unique=True))
    label: str = Field(sa_column=Column("label", String(120), nullable=False))
    password_hash: str | None = Field(
        default=None, sa_column=Column("password_hash", String(255), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column("created_at", UtcDateTime(), nullable=False))
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column("revoked_at", UtcDateTime(), nullable=True)
    )


class DashboardAnnotation(SQLModel, table=True):
    """A note on one day of a site's chart ("launched the new pricing page")."""

    __tablename__ = "dashboard_annotations"
    __table_args__ = (Index("ix_dashboard_annotations_site_id_day", "site_id", "day"),)

    id: int | None = Field(default=None, sa_column=Column("id", Integer, primary_key=True))
    site_id: str = Field(
        sa_column=Column(
            "site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        )
    )
    day: date = Field(sa_column=Column("day", Date, nullable=False))
    text: str = Field(sa_column=Column("text", String(200), nullable=False))
    created_at: datetime = Field(sa_column=Column("created_at", UtcDateTime(), nullable=False))


dashboard_shares = table_of(DashboardShare)
dashboard_annotations = table_of(DashboardAnnotation)
