"""The table of signed receipts given to visitors."""

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Index, String, Text
from sqlmodel import Field, SQLModel

from shared.db import table_of


class ConsentReceipt(SQLModel, table=True):
    """Copies of the signed receipts given to visitors (shown on the preference page)."""

    __tablename__ = "consent_receipts"
    __table_args__ = (Index("ix_consent_receipts_site_id_subject_id", "site_id", "subject_id"),)

    receipt_id: str = Field(sa_column=Column(String(32), primary_key=True))
    site_id: str = Field(sa_column=Column(String(32), ForeignKey("sites.id"), nullable=False))
    subject_id: str = Field(sa_column=Column(String(32), nullable=False))
    issued_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    signature: str = Field(sa_column=Column(String(128), nullable=False))


consent_receipts = table_of(ConsentReceipt)
