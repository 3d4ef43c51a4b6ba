"""The table of pseudonymous subjects."""

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, String
from sqlmodel import Field, SQLModel

from shared.db import table_of


class ConsentSubject(SQLModel, table=True):
    """A pseudonymous visitor: a random id and the hash of the credential the visitor holds."""

    __tablename__ = "consent_subjects"

    site_id: str = Field(sa_column=Column(String(32), ForeignKey("sites.id"), primary_key=True))
    subject_id: str = Field(sa_column=Column(String(32), primary_key=True))
    secret_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


consent_subjects = table_of(ConsentSubject)
