"""The hand-over tokens already opened: a hand-over link opens the visitor's choices once."""

from datetime import datetime

from sqlalchemy import Column, DateTime, String
from sqlmodel import Field, SQLModel

from shared.db import table_of


class ConsentHandoverUse(SQLModel, table=True):
    """An opened hand-over token, by its random id, kept until it would have expired anyway.
    Nothing in it names the visitor."""

    __tablename__ = "consent_handover_uses"

    token_id: str = Field(sa_column=Column(String(32), primary_key=True))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


consent_handover_uses = table_of(ConsentHandoverUse)
