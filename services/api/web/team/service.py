"""A site's members and invitations, on the accounts tables."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.web.accounts.models import web_invitations, web_memberships, web_users
from services.api.web.accounts.service import grant_role, token_hash
from services.api.web.auth import Role
from shared.models import sites

INVITATION_LIFETIME = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    email: str
    role: Role


@dataclass(frozen=True, slots=True)
class PendingInvitation:
    id: str
    role: Role
    invited_by: str | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class OpenInvitation:
    """What an invitation link offers: a role on a site."""

    site_id: str
    domain: str
    role: Role


async def site_members(*, engine: AsyncEngine, site_id: str) -> list[Member]:
    """The site's members, owners first, then by e-mail."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(web_users.c.id, web_users.c.email, web_memberships.c.role)
                .select_from(web_memberships.join(web_users))
                .where(web_memberships.c.site_id == site_id)
            )
        ).all()
    members = [Member(row.id, row.email, Role(row.role)) for row in rows]
    return sorted(members, key=lambda member: (-member.role.rank, member.email))


async def set_member_role(
    *, engine: AsyncEngine, site_id: str, user_id: int, role: Role | None
) -> None:
    """Change a member's role, or remove them (None)."""
    if role is not None:
        await grant_role(engine=engine, user_id=user_id, site_id=site_id, role=role)
        return
    async with engine.begin() as conn:
        await conn.execute(
            delete(web_memberships).where(
                web_memberships.c.site_id == site_id, web_memberships.c.user_id == user_id
            )
        )


async def invite(*, engine: AsyncEngine, site_id: str, role: Role, invited_by: int) -> str:
    """A new invitation; returns its token (for the link, shown once; only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(web_invitations).values(
                id=secrets.token_hex(8),
                token_hash=token_hash(token),
                site_id=site_id,
                role=role.value,
                invited_by=invited_by,
                created_at=now,
                expires_at=now + INVITATION_LIFETIME,
            )
        )
    return token


async def pending_invitations(*, engine: AsyncEngine, site_id: str) -> list[PendingInvitation]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    web_invitations.c.id,
                    web_invitations.c.role,
                    web_invitations.c.expires_at,
                    web_users.c.email,
                )
                .select_from(
                    web_invitations.outerjoin(
                        web_users, web_users.c.id == web_invitations.c.invited_by
                    )
                )
                .where(
                    web_invitations.c.site_id == site_id,
                    web_invitations.c.used_at.is_(None),
                    web_invitations.c.expires_at > datetime.now(UTC),
                )
                .order_by(web_invitations.c.created_at)
            )
        ).all()
    return [PendingInvitation(row.id, Role(row.role), row.email, row.expires_at) for row in rows]


async def withdraw_invitation(*, engine: AsyncEngine, site_id: str, invitation_id: str) -> bool:
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(web_invitations).where(
                web_invitations.c.site_id == site_id,
                web_invitations.c.id == invitation_id,
                web_invitations.c.used_at.is_(None),
            )
        )
    return bool(result.rowcount)


def _open(token: str, now: datetime) -> list[object]:
    return [
        web_invitations.c.token_hash == token_hash(token),
        web_invitations.c.used_at.is_(None),
        web_invitations.c.expires_at > now,
    ]


async def open_invitation(*, engine: AsyncEngine, token: str) -> OpenInvitation | None:
    """What the link offers, while it is unused and unexpired."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(web_invitations.c.site_id, web_invitations.c.role, sites.c.domain)
                .select_from(web_invitations.join(sites))
                .where(*_open(token, datetime.now(UTC)))  # type: ignore[arg-type]
            )
        ).first()
    return None if row is None else OpenInvitation(row.site_id, row.domain, Role(row.role))


async def accept_invitation(*, engine: AsyncEngine, token: str, user_id: int) -> str | None:
    """Use the invitation up for this user (once, whoever is first); returns the site's id.
    A member keeps a higher role than the invitation's."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                select(
                    web_invitations.c.id, web_invitations.c.site_id, web_invitations.c.role
                ).where(*_open(token, now))  # type: ignore[arg-type]
            )
        ).first()
        if row is None:
            return None
        used = await conn.execute(
            update(web_invitations)
            .where(web_invitations.c.id == row.id, web_invitations.c.used_at.is_(None))
            .values(used_at=now, used_by=user_id)
        )
        if used.rowcount != 1:
            return None
        current = (
            await conn.execute(
                select(web_memberships.c.role).where(
                    web_memberships.c.site_id == row.site_id,
                    web_memberships.c.user_id == user_id,
                )
            )
        ).scalar_one_or_none()
        offered = Role(row.role)
        if current is None:
            await conn.execute(
                insert(web_memberships).values(
                    user_id=user_id, site_id=row.site_id, role=offered.value, created_at=now
                )
            )
        elif offered.rank > Role(current).rank:
            await conn.execute(
                update(web_memberships)
                .where(
                    web_memberships.c.site_id == row.site_id,
                    web_memberships.c.user_id == user_id,
                )
                .values(role=offered.value)
            )
    return str(row.site_id)


async def count_owners(*, engine: AsyncEngine, site_id: str) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    select(func.count()).where(
                        web_memberships.c.site_id == site_id,
                        web_memberships.c.role == Role.owner.value,
                    )
                )
            ).scalar_one()
        )
