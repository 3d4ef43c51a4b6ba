"""The tables of the web app's accounts (migration 0400)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    false,
)
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, table_of


class WebUser(SQLModel, table=True):
    """A person who signs in: e-mail (lower-cased, unique) and an argon2 hash of the
    password; a TOTP secret sealed with the server secret once a second factor is on, and
    the last time step a code was accepted in (migration 0460: no code is accepted twice)."""

    __tablename__ = "web_users"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    email: str = Field(sa_column=Column(String(254), nullable=False, unique=True))
    password_hash: str = Field(sa_column=Column(String(255), nullable=False))
    totp_secret: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    totp_enabled_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )
    totp_last_step: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    last_login_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )


web_users = table_of(WebUser)


class WebMembership(SQLModel, table=True):
    """A user's role on one site: owner, admin or viewer (services.api.web.auth.Role)."""

    __tablename__ = "web_memberships"
    __table_args__ = (Index("ix_web_memberships_site_id", "site_id"),)

    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("web_users.id", ondelete="CASCADE"), primary_key=True)
    )
    site_id: str = Field(
        sa_column=Column(String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    )
    role: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


web_memberships = table_of(WebMembership)


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is kept, so a
    copy of the table signs nobody in. `pending_totp`: the password was right, the second
    factor is still to come (such a session reaches only the TOTP step)."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user_id", "user_id"),)

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("web_users.id", ondelete="CASCADE"), nullable=False)
    )
    pending_totp: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


web_sessions = table_of(WebSession)


class WebRecoveryCode(SQLModel, table=True):
    """One-use codes that stand in for the TOTP code (kept as SHA-256)."""

    __tablename__ = "web_recovery_codes"
    __table_args__ = (Index("ix_web_recovery_codes_user_id", "user_id"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("web_users.id", ondelete="CASCADE"), nullable=False)
    )
    code_hash: str = Field(sa_column=Column(String(64), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))


web_recovery_codes = table_of(WebRecoveryCode)


class WebInvitation(SQLModel, table=True):
    """A link that gives whoever opens it first (and signs in or signs up) a role on a site:
    one use, until it expires. Only the token's SHA-256 is kept."""

    __tablename__ = "web_invitations"
    __table_args__ = (Index("ix_web_invitations_site_id", "site_id"),)

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    site_id: str = Field(
        sa_column=Column(String(32), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False)
    )
    role: str = Field(sa_column=Column(String(16), nullable=False))
    invited_by: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("web_users.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    used_by: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("web_users.id", ondelete="SET NULL"), nullable=True),
    )


web_invitations = table_of(WebInvitation)


class WebSetupToken(SQLModel, table=True):
    """The one-time link `overt up` prints while no user exists: it creates the first owner."""

    __tablename__ = "web_setup_tokens"

    token_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))


web_setup_tokens = table_of(WebSetupToken)
