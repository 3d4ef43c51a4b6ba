"""The tables of linked identities and of e-mail addresses waiting for their link."""

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Index, LargeBinary, String
from sqlmodel import Field, SQLModel

from shared.db import table_of


class ConsentIdentity(SQLModel, table=True):
    """Tier 2: the identity a subject is linked to, for one purpose, sealed (AES-GCM)."""

    __tablename__ = "consent_identities"

    site_id: str = Field(sa_column=Column(String(32), ForeignKey("sites.id"), primary_key=True))
    subject_id: str = Field(sa_column=Column(String(32), primary_key=True))
    purpose: str = Field(sa_column=Column(String(64), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # email | external_id
    value_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # the display name the site asserted with it, sealed the same way (optional)
    display_name_sealed: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True)
    )
    # site_assertion | email_link
    method: str = Field(sa_column=Column(String(16), nullable=False))
    verified_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ConsentEmailVerification(SQLModel, table=True):
    """An e-mail address given by a visitor, waiting for the emailed link (only its hash is
    kept)."""

    __tablename__ = "consent_email_verifications"
    __table_args__ = (
        Index("ix_consent_email_verifications_site_id_subject_id", "site_id", "subject_id"),
    )

    token_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    site_id: str = Field(sa_column=Column(String(32), ForeignKey("sites.id"), nullable=False))
    subject_id: str = Field(sa_column=Column(String(32), nullable=False))
    value_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


consent_identities = table_of(ConsentIdentity)
consent_email_verifications = table_of(ConsentEmailVerification)
