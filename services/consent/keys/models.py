"""The table of per-site consent keys."""

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, LargeBinary, String
from sqlmodel import Field, SQLModel

from shared.db import table_of


class ConsentSiteKey(SQLModel, table=True):
    """Per-site keys: Ed25519 for checkpoints and receipts, an HMAC secret for identity
    assertions. Private parts are sealed (AES-GCM) with a key derived from the server secret."""

    __tablename__ = "consent_site_keys"

    site_id: str = Field(sa_column=Column(String(32), ForeignKey("sites.id"), primary_key=True))
    key_id: str = Field(sa_column=Column(String(16), nullable=False))
    public_key: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    private_key_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    assertion_secret_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


consent_site_keys = table_of(ConsentSiteKey)
