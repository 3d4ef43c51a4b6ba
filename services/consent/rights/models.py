"""The table of data-subject requests (export, erasure) with their legal deadlines."""

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Index, String
from sqlmodel import Field, SQLModel

from shared.db import table_of


class ConsentRequest(SQLModel, table=True):
    """Data-subject requests (export, erasure) with their legal deadlines."""

    __tablename__ = "consent_requests"
    __table_args__ = (Index("ix_consent_requests_site_id_subject_id", "site_id", "subject_id"),)

    request_id: str = Field(sa_column=Column(String(32), primary_key=True))
    site_id: str = Field(sa_column=Column(String(32), ForeignKey("sites.id"), nullable=False))
    subject_id: str = Field(sa_column=Column(String(32), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # export | erasure
    regime: str = Field(sa_column=Column(String(8), nullable=False))  # gdpr | ccpa
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    completed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


consent_requests = table_of(ConsentRequest)
