"""The tables of purposes and notices: what a site asks consent for, and each published text."""

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
)
from sqlmodel import Field, SQLModel

from shared.db import table_of


class ConsentPurpose(SQLModel, table=True):
    """What a site asks consent for, in plain language, mapped to DPV and Google Consent Mode v2."""

    __tablename__ = "consent_purposes"

    site_id: str = Field(sa_column=Column(String(32), ForeignKey("sites.id"), primary_key=True))
    purpose: str = Field(sa_column=Column(String(64), primary_key=True))
    position: int = Field(sa_column=Column(Integer, nullable=False))
    title: str = Field(sa_column=Column(String(200), nullable=False))
    dpv_term: str = Field(sa_column=Column(String(200), nullable=False))
    # space-separated signals
    consent_mode: str = Field(sa_column=Column(String(200), nullable=False))
    # Sec-GPC: 1 refuses it
    gpc_opt_out: bool = Field(sa_column=Column(Boolean, nullable=False))
    # How long a `given` lasts, in days: NULL is CONSENT_LIFETIME, never above MAX_LIFETIME.
    lifetime_days: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            CheckConstraint(
                "lifetime_days BETWEEN 1 AND 395", name="ck_consent_purposes_lifetime_days"
            ),
            nullable=True,
        ),
    )
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ConsentNotice(SQLModel, table=True):
    """A published version of the site's notice; each purpose's text is hashed (SHA-256)."""

    __tablename__ = "consent_notices"

    site_id: str = Field(sa_column=Column(String(32), ForeignKey("sites.id"), primary_key=True))
    version: int = Field(sa_column=Column(Integer, primary_key=True))
    published_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ConsentNoticeText(SQLModel, table=True):
    """One purpose's text in one notice version."""

    __tablename__ = "consent_notice_texts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "version"], ["consent_notices.site_id", "consent_notices.version"]
        ),
    )

    site_id: str = Field(sa_column=Column(String(32), primary_key=True))
    version: int = Field(sa_column=Column(Integer, primary_key=True))
    purpose: str = Field(sa_column=Column(String(64), primary_key=True))
    text: str = Field(sa_column=Column(Text, nullable=False))
    text_hash: str = Field(sa_column=Column(String(64), nullable=False))


consent_purposes = table_of(ConsentPurpose)
consent_notices = table_of(ConsentNotice)
consent_notice_texts = table_of(ConsentNoticeText)
