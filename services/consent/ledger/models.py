"""The ledger's tables: chain heads, rows and signed checkpoints (the last two append-only)."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlmodel import Field, SQLModel

from shared.db import table_of


class ConsentChainHead(SQLModel, table=True):
    """Where each site's chain ends; appends lock this row, so a chain never forks."""

    __tablename__ = "consent_chain_heads"

    site_id: str = Field(sa_column=Column(String(32), ForeignKey("sites.id"), primary_key=True))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    head_hash: str = Field(sa_column=Column(String(64), nullable=False))


class ConsentLedgerRow(SQLModel, table=True):
    """The consent ledger: one row per consent event, hash-chained per site. Never updated."""

    __tablename__ = "consent_ledger"
    __table_args__ = (Index("ix_consent_ledger_site_id_subject_id", "site_id", "subject_id"),)

    site_id: str = Field(sa_column=Column(String(32), ForeignKey("sites.id"), primary_key=True))
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True))
    entry_id: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    subject_id: str = Field(sa_column=Column(String(32), nullable=False))
    event: str = Field(sa_column=Column(String(16), nullable=False))
    # "*" for events about every purpose
    purpose: str = Field(sa_column=Column(String(64), nullable=False))
    notice_version: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    notice_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    method: str = Field(sa_column=Column(String(16), nullable=False))
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    jurisdiction: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    expires_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # The consent manager whose dialog showed the text (notice_hash is then that text's
    # hash); None for Overt's own widget, preference page and API.
    source: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    row_hash: str = Field(sa_column=Column(String(64), nullable=False))


class ConsentCheckpoint(SQLModel, table=True):
    """Signed statements "row `seq` of this site's chain has hash `row_hash`". Never updated."""

    __tablename__ = "consent_checkpoints"

    site_id: str = Field(sa_column=Column(String(32), ForeignKey("sites.id"), primary_key=True))
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True))
    row_hash: str = Field(sa_column=Column(String(64), nullable=False))
    signed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    key_id: str = Field(sa_column=Column(String(16), nullable=False))
    signature: bytes = Field(sa_column=Column(LargeBinary(64), nullable=False))


consent_chain_heads = table_of(ConsentChainHead)
consent_ledger = table_of(ConsentLedgerRow)
consent_checkpoints = table_of(ConsentCheckpoint)

APPEND_ONLY = (consent_ledger, consent_checkpoints)
