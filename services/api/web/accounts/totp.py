"""The optional second factor: TOTP (RFC 6238, pyotp) with one-use recovery codes.

The secret is sealed with the server secret (shared.sealing, bound to the user) before it is
stored; recovery codes are kept as SHA-256. A code is accepted in the current 30-second
step or the one before or after (a phone's clock drifts), and only once: the last step a
code was accepted in is kept per user, and a code of that step or an earlier one is a
replay (RFC 6238, section 5.2)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

import pyotp
import segno
from markupsafe import Markup
from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.web.accounts.models import web_recovery_codes, web_sessions, web_users
from services.api.web.accounts.service import SESSION_LIFETIME, token_hash
from shared.sealing import SealError, seal, unseal

ISSUER = "Overt"
RECOVERY_CODES = 10


def _context(user_id: int) -> str:
    return f"totp:{user_id}"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> Markup:
    """The URI as a QR code, inline SVG (no image request, no style attribute)."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")
    return Markup(  # noqa: S704  (segno's own SVG of a URI Overt made, no outside text)
        svg.replace('class="segno"', 'class="segno" role="img" aria-label="QR code"')
    )


def normalise_code(raw: str) -> str:
    return "".join(raw.split()).replace("-", "").lower()


def matching_step(secret: str, code: str, *, at: datetime | None = None) -> int | None:
    """The 30-second step (previous, current or next, for a drifting clock) whose code
    this is, or None."""
    code = normalise_code(code)
    if len(code) != 6 or not code.isdigit():
        return None
    generator = pyotp.TOTP(secret)
    current = generator.timecode(at or datetime.now(UTC))
    matched = [
        step
        for step in (current - 1, current, current + 1)
        if hmac.compare_digest(generator.generate_otp(step), code)
    ]
    return max(matched) if matched else None


def code_matches(secret: str, code: str) -> bool:
    return matching_step(secret, code) is not None


async def stored_secret(
    *, engine: AsyncEngine, server_secret: bytes, user_id: int
) -> tuple[str | None, bool]:
    """The user's TOTP secret (None when there is none) and whether it is turned on."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(web_users.c.totp_secret, web_users.c.totp_enabled_at).where(
                    web_users.c.id == user_id
                )
            )
        ).first()
    if row is None or row.totp_secret is None:
        return None, False
    try:
        secret = unseal(server_secret, row.totp_secret, context=_context(user_id)).decode()
    except SealError:
        return None, False
    return secret, row.totp_enabled_at is not None


async def store_pending(
    *, engine: AsyncEngine, server_secret: bytes, user_id: int, secret: str
) -> None:
    """Keep a new secret (sealed) until a code from it turns the second factor on."""
    async with engine.begin() as conn:
        await conn.execute(
            update(web_users)
            .where(web_users.c.id == user_id, web_users.c.totp_enabled_at.is_(None))
            .values(totp_secret=seal(server_secret, secret.encode(), context=_context(user_id)))
        )


async def enable(
    *, engine: AsyncEngine, server_secret: bytes, user_id: int, secret: str, step: int
) -> list[str]:
    """Turn the second factor on with `secret` (its code of `step` was given, and so is
    used); returns new recovery codes (shown once)."""
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    async with engine.begin() as conn:
        await conn.execute(
            update(web_users)
            .where(web_users.c.id == user_id)
            .values(
                totp_secret=seal(server_secret, secret.encode(), context=_context(user_id)),
                totp_enabled_at=datetime.now(UTC),
                totp_last_step=step,
            )
        )
        await conn.execute(
            delete(web_recovery_codes).where(web_recovery_codes.c.user_id == user_id)
        )
        await conn.execute(
            insert(web_recovery_codes),
            [{"user_id": user_id, "code_hash": _code_hash(code)} for code in codes],
        )
    return codes


async def disable(*, engine: AsyncEngine, user_id: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(web_users)
            .where(web_users.c.id == user_id)
            .values(totp_secret=None, totp_enabled_at=None, totp_last_step=None)
        )
        await conn.execute(
            delete(web_recovery_codes).where(web_recovery_codes.c.user_id == user_id)
        )


def _code_hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


async def second_factor_ok(
    *, engine: AsyncEngine, server_secret: bytes, user_id: int, code: str
) -> bool:
    """A current TOTP code not used before (its step becomes the user's last), or an unused
    recovery code (then used up)."""
    secret, enabled = await stored_secret(
        engine=engine, server_secret=server_secret, user_id=user_id
    )
    if secret is None or not enabled:
        return False
    step = matching_step(secret, code)
    if step is not None:
        return await _use_step(engine=engine, user_id=user_id, step=step)
    async with engine.begin() as conn:
        used = await conn.execute(
            update(web_recovery_codes)
            .where(
                web_recovery_codes.c.user_id == user_id,
                web_recovery_codes.c.code_hash == _code_hash(code),
                web_recovery_codes.c.used_at.is_(None),
            )
            .values(used_at=datetime.now(UTC))
        )
    return bool(used.rowcount)


async def _use_step(*, engine: AsyncEngine, user_id: int, step: int) -> bool:
    """Record `step` as the user's last accepted one, when it is fresh; in one UPDATE, so
    two requests with the same code cannot both pass."""
    async with engine.begin() as conn:
        last = web_users.c.totp_last_step
        used = await conn.execute(
            update(web_users)
            .where(web_users.c.id == user_id, or_(last.is_(None), last < step))
            .values(totp_last_step=step)
        )
    return bool(used.rowcount)


async def complete_session(*, engine: AsyncEngine, token: str) -> None:
    """The second factor is given: the session becomes a full one."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            update(web_sessions)
            .where(web_sessions.c.id == token_hash(token))
            .values(pending_totp=False, expires_at=now + SESSION_LIFETIME)
        )
        user_id = (
            await conn.execute(
                select(web_sessions.c.user_id).where(web_sessions.c.id == token_hash(token))
            )
        ).scalar_one()
        await conn.execute(
            update(web_users).where(web_users.c.id == user_id).values(last_login_at=now)
        )
