"""The web app's accounts: users, their roles per site, sessions, recovery codes,
invitations and the first run's setup token (services.api.web.accounts.models).

Revision ID: 0400
Revises: 0345
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0400"
down_revision = "0345"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def _user(column: str, *, nullable: bool, ondelete: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        column, sa.Integer(), sa.ForeignKey("web_users.id", ondelete=ondelete), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=True),
        sa.Column("totp_enabled_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("last_login_at", WHEN, nullable=True),
        sa.UniqueConstraint("email", name="uq_web_users_email"),
    )
    op.create_table(
        "web_memberships",
        _user("user_id", nullable=False, ondelete="CASCADE"),
        sa.Column(
            "site_id", sa.String(32), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "site_id", name="pk_web_memberships"),
    )
    op.create_index("ix_web_memberships_site_id", "web_memberships", ["site_id"])
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        _user("user_id", nullable=False, ondelete="CASCADE"),
        sa.Column("pending_totp", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "web_recovery_codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        _user("user_id", nullable=False, ondelete="CASCADE"),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", WHEN, nullable=True),
    )
    op.create_index("ix_web_recovery_codes_user_id", "web_recovery_codes", ["user_id"])
    op.create_table(
        "web_invitations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column(
            "site_id", sa.String(32), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("role", sa.String(16), nullable=False),
        _user("invited_by", nullable=True, ondelete="SET NULL"),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("used_at", WHEN, nullable=True),
        _user("used_by", nullable=True, ondelete="SET NULL"),
        sa.UniqueConstraint("token_hash", name="uq_web_invitations_token_hash"),
    )
    op.create_index("ix_web_invitations_site_id", "web_invitations", ["site_id"])
    op.create_table(
        "web_setup_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("used_at", WHEN, nullable=True),
    )


def downgrade() -> None:
    for table in (
        "web_setup_tokens",
        "web_invitations",
        "web_recovery_codes",
        "web_sessions",
        "web_memberships",
        "web_users",
    ):
        op.drop_table(table)
