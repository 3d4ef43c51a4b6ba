"""Users, passwords and sessions: the logic behind sign-in, on the tables of models.py.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommended
profile); a session is a random token in a cookie, of which only the SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.web.accounts.models import (
    web_memberships,
    web_recovery_codes,
    web_sessions,
    web_setup_tokens,
    web_users,
)
from shared.models import sites
from shared.sites import Site, SiteSettings

SESSION_LIFETIME = timedelta(days=14)
# A session between the password and the second factor lives only this long.
PENDING_LIFETIME = timedelta(minutes=5)
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024
ROLES = ("owner", "admin", "viewer")

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so an unknown address costs as much time as
# a wrong password (no account enumeration by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """The account cannot be made or changed as asked (taken e-mail, short password...)."""


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    email: str
    totp_enabled: bool


@dataclass(frozen=True, slots=True)
class SessionUser:
    """Who a session cookie belongs to, and whether the second factor is still owed."""

    id: int
    email: str
    pending_totp: bool


def token_hash(token: str) -> str:
    """How every token Overt hands out (session, invitation, setup) is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(raw: str) -> str:
    return raw.strip().lower()


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"a password has at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(f"a password has at most {MAX_PASSWORD_CHARS} characters")


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not there is a stored hash."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def create_user(*, engine: AsyncEngine, email: str, password: str) -> Account:
    """A new user; AccountError when the e-mail is taken or the password too short."""
    address = normalise_email(email)
    hashed = hash_password(password)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(
                insert(web_users)
                .values(email=address, password_hash=hashed, created_at=datetime.now(UTC))
                .returning(web_users.c.id)
            )
            user_id = result.scalar_one()
    except IntegrityError:
        raise AccountError(f"there is already a user {address}") from None
    return Account(id=user_id, email=address, totp_enabled=False)


async def count_users(*, engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(web_users))).scalar_one())


async def list_users(*, engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every user with their sites and roles, by e-mail (never a hash or a secret)."""
    async with engine.connect() as conn:
        users = (
            await conn.execute(
                select(
                    web_users.c.id,
                    web_users.c.email,
                    web_users.c.totp_enabled_at,
                    web_users.c.created_at,
                    web_users.c.last_login_at,
                ).order_by(web_users.c.email)
            )
        ).all()
        roles = (
            await conn.execute(
                select(
                    web_memberships.c.user_id, web_memberships.c.site_id, web_memberships.c.role
                ).order_by(web_memberships.c.site_id)
            )
        ).all()
    by_user: dict[int, dict[str, str]] = {}
    for row in roles:
        by_user.setdefault(row.user_id, {})[row.site_id] = row.role
    return [
        {
            "id": user.id,
            "email": user.email,
            "totp": user.totp_enabled_at is not None,
            "created_at": user.created_at.isoformat(),
            "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
            "sites": by_user.get(user.id, {}),
        }
        for user in users
    ]


async def authenticate_password(
    *, engine: AsyncEngine, email: str, password: str
) -> Account | None:
    """The account when the password is its own, else None (the same work either way)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    web_users.c.id,
                    web_users.c.email,
                    web_users.c.password_hash,
                    web_users.c.totp_enabled_at,
                ).where(web_users.c.email == normalise_email(email))
            )
        ).first()
    if not password_matches(row.password_hash if row else None, password) or row is None:
        return None
    return Account(id=row.id, email=row.email, totp_enabled=row.totp_enabled_at is not None)


async def set_password(
    *, engine: AsyncEngine, email: str, password: str, disable_totp: bool = False
) -> None:
    """A new password for the user (`overt user reset`); every session of theirs ends.
    `disable_totp`: the second factor and its recovery codes go too (a lost phone)."""
    hashed = hash_password(password)
    async with engine.begin() as conn:
        user_id = (
            await conn.execute(
                select(web_users.c.id).where(web_users.c.email == normalise_email(email))
            )
        ).scalar_one_or_none()
        if user_id is None:
            raise LookupError(f"no user {normalise_email(email)}")
        changes: dict[str, Any] = {"password_hash": hashed}
        if disable_totp:
            changes.update(totp_secret=None, totp_enabled_at=None, totp_last_step=None)
            await conn.execute(
                delete(web_recovery_codes).where(web_recovery_codes.c.user_id == user_id)
            )
        await conn.execute(update(web_users).where(web_users.c.id == user_id).values(**changes))
        await conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))


async def change_password(
    *, engine: AsyncEngine, user_id: int, current: str, new: str, keep_session: str
) -> None:
    """The user's own new password, when `current` is their password (AccountError if
    not, or if the new one is refused); every other session of theirs ends, the one
    whose token is `keep_session` (the browser that asked) stays."""
    hashed = hash_password(new)
    async with engine.connect() as conn:
        stored = (
            await conn.execute(select(web_users.c.password_hash).where(web_users.c.id == user_id))
        ).scalar_one_or_none()
    if not password_matches(stored, current):
        raise AccountError("the current password is not right")
    async with engine.begin() as conn:
        changed = await conn.execute(
            update(web_users)
            .where(web_users.c.id == user_id, web_users.c.password_hash == stored)
            .values(password_hash=hashed)
        )
        if changed.rowcount != 1:  # changed meanwhile (another tab, `overt user reset`)
            raise AccountError("the current password is not right")
        await conn.execute(
            delete(web_sessions).where(
                web_sessions.c.user_id == user_id,
                web_sessions.c.id != token_hash(keep_session),
            )
        )


async def start_session(*, engine: AsyncEngine, user_id: int, pending_totp: bool = False) -> str:
    """A new session for the user; returns the cookie's token (shown to the browser only)."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(web_sessions).values(
                id=token_hash(token),
                user_id=user_id,
                pending_totp=pending_totp,
                created_at=now,
                expires_at=now + (PENDING_LIFETIME if pending_totp else SESSION_LIFETIME),
            )
        )
        if not pending_totp:
            await conn.execute(
                update(web_users).where(web_users.c.id == user_id).values(last_login_at=now)
            )
            # Ended sessions go when their user signs in again: the table stays small
            # without a sweeper.
            await conn.execute(
                delete(web_sessions).where(
                    web_sessions.c.user_id == user_id, web_sessions.c.expires_at <= now
                )
            )
    return token


async def session_user(*, engine: AsyncEngine, token: str) -> SessionUser | None:
    """The user of a live session, or None (unknown or expired token)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(web_users.c.id, web_users.c.email, web_sessions.c.pending_totp)
                .select_from(web_sessions.join(web_users))
                .where(
                    web_sessions.c.id == token_hash(token),
                    web_sessions.c.expires_at > datetime.now(UTC),
                )
            )
        ).first()
    return None if row is None else SessionUser(row.id, row.email, row.pending_totp)


async def end_session(*, engine: AsyncEngine, token: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(web_sessions).where(web_sessions.c.id == token_hash(token)))


async def user_sites(*, engine: AsyncEngine, user_id: int) -> list[tuple[Site, str]]:
    """The sites the user has a role on, with the role, by domain."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    sites.c.id,
                    sites.c.domain,
                    sites.c.timezone,
                    sites.c.settings,
                    web_memberships.c.role,
                )
                .select_from(web_memberships.join(sites))
                .where(web_memberships.c.user_id == user_id)
                .order_by(sites.c.domain)
            )
        ).all()
    return [
        (
            Site(
                id=row.id,
                domain=row.domain,
                timezone=row.timezone,
                settings=SiteSettings.model_validate(row.settings or {}),
            ),
            row.role,
        )
        for row in rows
    ]


async def grant_role(*, engine: AsyncEngine, user_id: int, site_id: str, role: str) -> None:
    """Give the user `role` on the site (replacing the role they had there)."""
    if role not in ROLES:
        raise AccountError(f"no role {role!r}: one of {', '.join(ROLES)}")
    async with engine.begin() as conn:
        await conn.execute(
            delete(web_memberships).where(
                web_memberships.c.user_id == user_id, web_memberships.c.site_id == site_id
            )
        )
        await conn.execute(
            insert(web_memberships).values(
                user_id=user_id, site_id=site_id, role=role, created_at=datetime.now(UTC)
            )
        )


# -- the first run -------------------------------------------------------------------------

SETUP_LIFETIME = timedelta(hours=24)


async def issue_setup_token(*, engine: AsyncEngine) -> str | None:
    """A new one-time setup link's token while no user exists (None once one does); any
    earlier unused token stops working, so only the link printed last opens."""
    now = datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        users = (await conn.execute(select(func.count()).select_from(web_users))).scalar_one()
        if users:
            return None
        await conn.execute(delete(web_setup_tokens).where(web_setup_tokens.c.used_at.is_(None)))
        await conn.execute(
            insert(web_setup_tokens).values(
                token_hash=token_hash(token), created_at=now, expires_at=now + SETUP_LIFETIME
            )
        )
    return token


async def setup_token_open(*, engine: AsyncEngine, token: str) -> bool:
    """Whether the token opens the first run now: known, unused, unexpired, and no user yet."""
    now = datetime.now(UTC)
    async with engine.connect() as conn:
        users = (await conn.execute(select(func.count()).select_from(web_users))).scalar_one()
        found = (
            await conn.execute(
                select(web_setup_tokens.c.token_hash).where(
                    web_setup_tokens.c.token_hash == token_hash(token),
                    web_setup_tokens.c.used_at.is_(None),
                    web_setup_tokens.c.expires_at > now,
                )
            )
        ).first()
    return users == 0 and found is not None


async def create_first_owner(
    *, engine: AsyncEngine, token: str, email: str, password: str
) -> Account | None:
    """The first user, made with the setup token (used up in the same transaction, so two
    tabs cannot both make one); None when the token no longer opens the first run."""
    address = normalise_email(email)
    hashed = hash_password(password)
    now = datetime.now(UTC)
    try:
        return await _first_owner(engine, token_hash(token), address, hashed, now)
    except _Closed:
        return None


class _Closed(Exception):
    """The setup token no longer opens the first run (rolls the transaction back)."""


async def _first_owner(
    engine: AsyncEngine, digest: str, address: str, hashed: str, now: datetime
) -> Account:
    async with engine.begin() as conn:
        used = await conn.execute(
            update(web_setup_tokens)
            .where(
                web_setup_tokens.c.token_hash == digest,
                web_setup_tokens.c.used_at.is_(None),
                web_setup_tokens.c.expires_at > now,
            )
            .values(used_at=now)
        )
        users = (await conn.execute(select(func.count()).select_from(web_users))).scalar_one()
        if used.rowcount != 1 or users:
            raise _Closed()
        user_id = (
            await conn.execute(
                insert(web_users)
                .values(email=address, password_hash=hashed, created_at=now)
                .returning(web_users.c.id)
            )
        ).scalar_one()
    return Account(id=user_id, email=address, totp_enabled=False)
