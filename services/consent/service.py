"""Purposes, notices, subjects and decisions: the consent logic behind every surface."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.consent.crypto import as_utc, same, sha256_hex, utc_text
from services.consent.exceptions import RevocationUnavailable, SiteNotFound, UnknownPurpose
from services.consent.keys import SiteKeys, create_site_keys, load_site_keys
from services.consent.ledger import (
    ALL_PURPOSES,
    LedgerEntry,
    LedgerEvent,
    Method,
    NewEntry,
    append_entries,
    create_chain,
    ledger_sites,
    lock_chain,
    subject_entries,
)
from services.consent.models import (
    consent_email_verifications,
    consent_identities,
    consent_ledger,
    consent_notice_texts,
    consent_notices,
    consent_purposes,
    consent_site_keys,
    consent_subjects,
)
from services.consent.receipts import build_receipt, sign_receipt, store_receipt
from shared.consent_tokens import (
    IDENTIFICATION,
    TOKEN_LIFETIME_MS,
    Revocation,
    issue_token,
    now_ms,
)
from shared.dialect import insert_if_absent
from shared.models import events
from shared.runtime import Resources
from shared.sites import Site, get_site

log = logging.getLogger("overt.consent")

CONSENT_LIFETIME = timedelta(days=365)
CREDENTIAL_PREFIX = "ocs1"


@dataclass(frozen=True, slots=True)
class PurposeDefinition:
    purpose: str
    title: str
    text: str
    dpv_term: str
    consent_mode: tuple[str, ...]
    gpc_opt_out: bool


DEFAULT_PURPOSES = (
    PurposeDefinition(
        purpose="analytics",
        title="Remember this browser for analytics",
        text=(
            "We keep a random number in this site's storage in your browser, so we can see "
            "that a later visit comes from the same browser. It tells us nothing about who "
            "you are; without it we only count visits within a single day."
        ),
        dpv_term="dpv:ServiceUsageAnalytics",
        consent_mode=("analytics_storage",),
        gpc_opt_out=False,
    ),
    PurposeDefinition(
        purpose="identification",
        title="Connect your visits to you",
        text=(
            "If you also tell us who you are (or sign in), we link the pages you visit here "
            "to your name or e-mail address, so our team can see what interested you. You can "
            "withdraw at any time; the link is then no longer used and can be erased."
        ),
        dpv_term="dpv:CustomerRelationshipManagement",
        consent_mode=("ad_user_data",),
        gpc_opt_out=True,
    ),
    PurposeDefinition(
        purpose="marketing_contact",
        title="Contact you about our products",
        text=(
            "We may contact you by e-mail about products and offers related to what you "
            "looked at. Every message has a one-click way to stop."
        ),
        dpv_term="dpv:DirectMarketing",
        consent_mode=("ad_storage", "ad_personalization"),
        gpc_opt_out=True,
    ),
)


@dataclass(frozen=True, slots=True)
class Purpose:
    purpose: str
    title: str
    text: str
    text_hash: str
    dpv_term: str
    consent_mode: tuple[str, ...]
    gpc_opt_out: bool

    def public(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "title": self.title,
            "description": self.text,
            "notice_sha256": self.text_hash,
            "dpv_term": self.dpv_term,
            "consent_mode": list(self.consent_mode),
            "gpc_opt_out": self.gpc_opt_out,
        }


@dataclass(frozen=True, slots=True)
class Notice:
    site_id: str
    version: int
    purposes: tuple[Purpose, ...]

    def purpose(self, name: str) -> Purpose:
        for purpose in self.purposes:
            if purpose.purpose == name:
                return purpose
        raise UnknownPurpose(name)


@dataclass(frozen=True, slots=True)
class PurposeState:
    purpose: Purpose
    status: str | None  # the latest ledger event about it, or None
    granted: bool
    ask: bool  # never asked, expired, or its text changed since the decision
    decided_at: datetime | None
    expires_at: datetime | None

    def public(self) -> dict[str, Any]:
        return {
            **self.purpose.public(),
            "status": self.status,
            "granted": self.granted,
            "ask": self.ask,
            "decided_at": utc_text(self.decided_at),
            "expires_at": utc_text(self.expires_at),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    subject_id: str
    entries: list[LedgerEntry]
    states: list[PurposeState]
    receipt: dict[str, Any] | None
    token: str | None


# --- sites and notices --------------------------------------------------------------------


async def ensure_site(*, engine: AsyncEngine, secret: bytes, site_id: str) -> Site:
    """The site, with its consent keys, chain and default purposes made on first use."""
    site = await get_site(engine=engine, site_id=site_id)
    if site is None:
        raise SiteNotFound()
    async with engine.connect() as conn:
        ready = (
            await conn.execute(
                select(consent_site_keys.c.site_id).where(consent_site_keys.c.site_id == site_id)
            )
        ).first()
    if ready is None:
        async with engine.begin() as conn:
            await create_chain(conn=conn, site_id=site_id)
            now = datetime.now(UTC)
            for position, definition in enumerate(DEFAULT_PURPOSES):
                await insert_if_absent(
                    conn,
                    consent_purposes,
                    {
                        "site_id": site_id,
                        "purpose": definition.purpose,
                        "position": position,
                        "title": definition.title,
                        "dpv_term": definition.dpv_term,
                        "consent_mode": " ".join(definition.consent_mode),
                        "gpc_opt_out": definition.gpc_opt_out,
                        "created_at": now,
                    },
                )
            await insert_if_absent(
                conn, consent_notices, {"site_id": site_id, "version": 1, "published_at": now}
            )
            for definition in DEFAULT_PURPOSES:
                await insert_if_absent(
                    conn,
                    consent_notice_texts,
                    {
                        "site_id": site_id,
                        "version": 1,
                        "purpose": definition.purpose,
                        "text": definition.text,
                        "text_hash": sha256_hex(definition.text),
                    },
                )
            # Last: its presence is what says "this site is set up".
            await create_site_keys(conn=conn, secret=secret, site_id=site_id)
    return site


async def _notice(*, conn: AsyncConnection, site_id: str, version: int | None = None) -> Notice:
    """The site's current notice (or one version), with each purpose's text."""
    if version is None:
        version = (
            await conn.execute(
                select(func.max(consent_notices.c.version)).where(
                    consent_notices.c.site_id == site_id
                )
            )
        ).scalar_one()
        if version is None:
            raise SiteNotFound()
    rows = await conn.execute(
        select(
            consent_purposes.c.purpose,
            consent_purposes.c.title,
            consent_purposes.c.dpv_term,
            consent_purposes.c.consent_mode,
            consent_purposes.c.gpc_opt_out,
            consent_notice_texts.c.text,
            consent_notice_texts.c.text_hash,
        )
        .join(
            consent_notice_texts,
            (consent_notice_texts.c.site_id == consent_purposes.c.site_id)
            & (consent_notice_texts.c.purpose == consent_purposes.c.purpose),
        )
        .where(consent_purposes.c.site_id == site_id, consent_notice_texts.c.version == version)
        .order_by(consent_purposes.c.position)
    )
    purposes = tuple(
        Purpose(
            purpose=row.purpose,
            title=row.title,
            text=row.text,
            text_hash=row.text_hash,
            dpv_term=row.dpv_term,
            consent_mode=tuple(row.consent_mode.split()),
            gpc_opt_out=bool(row.gpc_opt_out),
        )
        for row in rows
    )
    if not purposes:
        raise SiteNotFound()
    return Notice(site_id=site_id, version=version, purposes=purposes)


async def get_notice(*, engine: AsyncEngine, site_id: str, version: int | None = None) -> Notice:
    """The site's current notice (or one version of it), with every purpose's text."""
    async with engine.connect() as conn:
        return await _notice(conn=conn, site_id=site_id, version=version)


@dataclass(frozen=True, slots=True)
class NoticeChange:
    version: int
    changed: list[str]  # purposes whose text changed: their earlier decisions are asked again


async def publish_notice(
    *, engine: AsyncEngine, site_id: str, texts: Mapping[str, str], now: datetime | None = None
) -> NoticeChange:
    """Publish a new notice version; purposes not in `texts` keep their current text."""
    now = now or datetime.now(UTC)
    for attempt in range(5):
        try:
            async with engine.begin() as conn:
                current = await _notice(conn=conn, site_id=site_id)
                for name in texts:
                    current.purpose(name)  # refuses unknown purposes
                version = current.version + 1
                await conn.execute(
                    insert(consent_notices).values(
                        site_id=site_id, version=version, published_at=now
                    )
                )
                changed = []
                for purpose in current.purposes:
                    text = texts.get(purpose.purpose, purpose.text)
                    digest = sha256_hex(text)
                    if digest != purpose.text_hash:
                        changed.append(purpose.purpose)
                    await conn.execute(
                        insert(consent_notice_texts).values(
                            site_id=site_id,
                            version=version,
                            purpose=purpose.purpose,
                            text=text,
                            text_hash=digest,
                        )
                    )
            return NoticeChange(version=version, changed=changed)
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


async def notice_texts(*, engine: AsyncEngine, site_id: str) -> dict[tuple[int, str], str]:
    """Every text the site has published, by (version, purpose)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                consent_notice_texts.c.version,
                consent_notice_texts.c.purpose,
                consent_notice_texts.c.text,
            ).where(consent_notice_texts.c.site_id == site_id)
        )
        return {(row.version, row.purpose): row.text for row in rows}


# --- subjects -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubjectCredential:
    subject_id: str
    credential: str  # shown to the visitor once; only its hash is kept


async def create_subject(*, engine: AsyncEngine, site_id: str) -> SubjectCredential:
    """A new pseudonymous subject: random id (never derived from IP or browser) and secret."""
    subject_id = secrets.token_hex(16)
    secret = secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        await conn.execute(
            insert(consent_subjects).values(
                site_id=site_id,
                subject_id=subject_id,
                secret_hash=sha256_hex(secret),
                created_at=datetime.now(UTC),
            )
        )
    return SubjectCredential(subject_id, f"{CREDENTIAL_PREFIX}.{subject_id}.{secret}")


async def authenticate_subject(*, engine: AsyncEngine, site_id: str, credential: str) -> str | None:
    """The subject id behind a credential for this site, or None (compared in constant time)."""
    parts = credential.split(".") if len(credential) < 256 else []
    if len(parts) != 3 or parts[0] != CREDENTIAL_PREFIX:
        return None
    subject_id, secret = parts[1], parts[2]
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                select(consent_subjects.c.secret_hash).where(
                    consent_subjects.c.site_id == site_id,
                    consent_subjects.c.subject_id == subject_id,
                )
            )
        ).scalar_one_or_none()
    if stored is None or not same(stored, sha256_hex(secret)):
        return None
    return subject_id


# --- state and decisions ------------------------------------------------------------------


def states_from(notice: Notice, entries: list[LedgerEntry], now: datetime) -> list[PurposeState]:
    """Each purpose's state for one subject, from its ledger rows."""
    latest: dict[str, LedgerEntry] = {}
    for entry in entries:
        if entry.purpose == ALL_PURPOSES:
            for purpose in notice.purposes:
                latest[purpose.purpose] = entry
        else:
            latest[entry.purpose] = entry
    states = []
    for purpose in notice.purposes:
        last = latest.get(purpose.purpose)
        if last is None:
            states.append(PurposeState(purpose, None, False, True, None, None))
            continue
        expires_at = as_utc(last.expires_at) if last.expires_at else None
        lapsed = expires_at is not None and expires_at <= now
        same_text = last.notice_hash == purpose.text_hash
        status = LedgerEvent.expired.value if last.event == "given" and lapsed else last.event
        granted = status == LedgerEvent.given and same_text
        ask = status in ("expired", "erased") or (
            status != LedgerEvent.gpc_opt_out and not same_text
        )
        states.append(
            PurposeState(purpose, status, granted, ask, as_utc(last.recorded_at), expires_at)
        )
    return states


async def consent_state(
    *, engine: AsyncEngine, site_id: str, subject_id: str, now: datetime | None = None
) -> list[PurposeState]:
    """The subject's current choice for every purpose of the current notice."""
    async with engine.connect() as conn:
        notice = await _notice(conn=conn, site_id=site_id)
        entries = await subject_entries(conn=conn, site_id=site_id, subject_id=subject_id)
    return states_from(notice, entries, now or datetime.now(UTC))


async def site_keys(*, conn: AsyncConnection, secret: bytes, site_id: str) -> SiteKeys:
    """The site's unsealed keys; 404 when the site has none."""
    keys = await load_site_keys(conn=conn, secret=secret, site_id=site_id)
    if keys is None:
        raise SiteNotFound()
    return keys


async def revoke_tokens(resources: Resources, revocation: Revocation) -> None:
    """Publish a revocation to every process; 503 when Redis cannot take it."""
    try:
        await resources.revocations.revoke(revocation)
    except (RedisError, OSError):
        raise RevocationUnavailable() from None


async def record_decisions(
    *,
    resources: Resources,
    site: Site,
    subject_id: str,
    choices: Mapping[str, bool],
    method: Method,
    jurisdiction: str | None = None,
    gpc: bool = False,
    now: datetime | None = None,
) -> Decision:
    """Append the visitor's choices to the ledger, sign a receipt, revoke or issue tokens.

    With `gpc` (Sec-GPC: 1), every purpose GPC covers is refused as a `gpc_opt_out`,
    whatever was chosen.
    """
    now = now or datetime.now(UTC)
    secret = resources.settings.secret()
    async with resources.engine.begin() as conn:
        await lock_chain(conn=conn, site_id=site.id)
        keys = await site_keys(conn=conn, secret=secret, site_id=site.id)
        notice = await _notice(conn=conn, site_id=site.id)
        for name in choices:
            notice.purpose(name)
        before = {
            state.purpose.purpose: state
            for state in states_from(
                notice,
                await subject_entries(conn=conn, site_id=site.id, subject_id=subject_id),
                now,
            )
        }
        new: list[NewEntry] = []
        for purpose in notice.purposes:
            name = purpose.purpose
            chosen = choices.get(name)
            if gpc and purpose.gpc_opt_out:
                already = before[name].status == LedgerEvent.gpc_opt_out and not before[name].ask
                if chosen is None and already:
                    continue
                event, row_method, expires = LedgerEvent.gpc_opt_out, Method.gpc, None
            elif chosen is None:
                continue
            elif chosen:
                event, row_method, expires = LedgerEvent.given, method, now + CONSENT_LIFETIME
            else:
                event = LedgerEvent.withdrawn if before[name].granted else LedgerEvent.refused
                row_method, expires = method, None
            new.append(
                NewEntry(
                    subject_id=subject_id,
                    event=event,
                    purpose=name,
                    method=row_method,
                    notice_version=notice.version,
                    notice_hash=purpose.text_hash,
                    jurisdiction=jurisdiction,
                    expires_at=expires,
                )
            )
        entries = await append_entries(conn=conn, keys=keys, entries=new, now=now)
        receipt = None
        if entries:
            receipt = sign_receipt(
                keys=keys,
                body=build_receipt(
                    keys=keys,
                    domain=site.domain,
                    subject_id=subject_id,
                    entries=entries,
                    purposes={p.purpose: p.public() for p in notice.purposes},
                    notice_url=(
                        f"{resources.settings.base_url}/consent/sites/{site.id}"
                        f"/notices/{notice.version}"
                    ),
                    issued_at=now,
                ),
            )
            await store_receipt(conn=conn, site_id=site.id, subject_id=subject_id, envelope=receipt)
        if any(e.purpose == IDENTIFICATION and e.event != LedgerEvent.given for e in entries):
            # The link is for identification only: it ends with that consent.
            await unlink_identity(conn=conn, site_id=site.id, subject_id=subject_id)
            # Before the commit: a withdrawal that could not be published is not recorded
            # either (the visitor gets a 503 and tries again), never the reverse.
            await revoke_tokens(
                resources,
                Revocation(site.id, subject_id, now_ms(now), LedgerEvent.withdrawn.value),
            )
        all_entries = await subject_entries(conn=conn, site_id=site.id, subject_id=subject_id)
    states = states_from(notice, all_entries, now)
    identification = next(s for s in states if s.purpose.purpose == IDENTIFICATION)
    token = None
    if identification.granted:
        token, _ = issue_token(
            secret=secret,
            site_id=site.id,
            subject_id=subject_id,
            now=now,
            not_after=identification.expires_at,
        )
    return Decision(subject_id, entries, states, receipt, token)


async def identification_token(
    *, resources: Resources, site_id: str, subject_id: str, now: datetime | None = None
) -> str | None:
    """A fresh `identification` token while that consent is granted, else None."""
    now = now or datetime.now(UTC)
    states = await consent_state(
        engine=resources.engine, site_id=site_id, subject_id=subject_id, now=now
    )
    state = next(s for s in states if s.purpose.purpose == IDENTIFICATION)
    if not state.granted:
        return None
    token, _ = issue_token(
        secret=resources.settings.secret(),
        site_id=site_id,
        subject_id=subject_id,
        now=now,
        not_after=state.expires_at,
    )
    return token


async def expire_consents(
    *, resources: Resources, site_id: str, now: datetime | None = None
) -> int:
    """Record an `expired` row for every consent past its expiry; returns how many."""
    now = now or datetime.now(UTC)
    secret = resources.settings.secret()
    async with resources.engine.begin() as conn:
        await lock_chain(conn=conn, site_id=site_id)
        keys = await site_keys(conn=conn, secret=secret, site_id=site_id)
        subjects = (
            await conn.execute(
                select(consent_ledger.c.subject_id)
                .where(
                    consent_ledger.c.site_id == site_id,
                    consent_ledger.c.event == LedgerEvent.given.value,
                    consent_ledger.c.expires_at <= now,
                )
                .distinct()
            )
        ).scalars()
        new: list[NewEntry] = []
        for subject_id in list(subjects):
            entries = await subject_entries(conn=conn, site_id=site_id, subject_id=subject_id)
            latest: dict[str, LedgerEntry] = {}
            for entry in entries:
                if entry.purpose == ALL_PURPOSES:
                    latest.clear()  # erased: nothing left to expire
                else:
                    latest[entry.purpose] = entry
            for purpose, entry in latest.items():
                if (
                    entry.event == LedgerEvent.given
                    and entry.expires_at is not None
                    and as_utc(entry.expires_at) <= now
                ):
                    new.append(
                        NewEntry(
                            subject_id=subject_id,
                            event=LedgerEvent.expired,
                            purpose=purpose,
                            method=Method.system,
                            notice_version=entry.notice_version,
                            notice_hash=entry.notice_hash,
                            jurisdiction=entry.jurisdiction,
                        )
                    )
        await append_entries(conn=conn, keys=keys, entries=new, now=now)
        for subject_id in {e.subject_id for e in new if e.purpose == IDENTIFICATION}:
            await revoke_tokens(
                resources, Revocation(site_id, subject_id, now_ms(now), LedgerEvent.expired.value)
            )
    return len(new)


async def unlink_identity(*, conn: AsyncConnection, site_id: str, subject_id: str) -> int:
    """Remove the subject's identity and pending verifications; returns how many rows went."""
    removed = await conn.execute(
        delete(consent_identities).where(
            consent_identities.c.site_id == site_id, consent_identities.c.subject_id == subject_id
        )
    )
    pending = await conn.execute(
        delete(consent_email_verifications).where(
            consent_email_verifications.c.site_id == site_id,
            consent_email_verifications.c.subject_id == subject_id,
        )
    )
    # Every link from events to this subject goes too (promise 4); the events stay anonymous.
    unlinked = await conn.execute(
        update(events)
        .where(events.c.site_id == site_id, events.c.subject_id == subject_id)
        .values(subject_id=None)
    )
    return int(removed.rowcount or 0) + int(pending.rowcount or 0) + int(unlinked.rowcount or 0)


async def site_assertion_secret(*, engine: AsyncEngine, secret: bytes, site_id: str) -> str:
    """The site's identity-assertion secret (hex), for the site's backend to sign with."""
    await ensure_site(engine=engine, secret=secret, site_id=site_id)
    async with engine.connect() as conn:
        keys = await site_keys(conn=conn, secret=secret, site_id=site_id)
    return keys.assertion_secret.hex()


EXPIRY_INTERVAL_S = 3600.0


async def expire_all(*, resources: Resources, now: datetime | None = None) -> int:
    """One expiry pass over every site; returns how many consents expired.

    A site that never set up consent (no keys) has nothing to expire and is skipped. A
    site whose pass fails is logged and retried at the next pass; the others still run.
    (The pass used to stop at the first site without keys, so no site after it in id
    order ever had its consents expired.)
    """
    expired = 0
    for site_id in await ledger_sites(engine=resources.engine):
        try:
            expired += await expire_consents(resources=resources, site_id=site_id, now=now)
        except SiteNotFound:
            continue
        except Exception:
            log.exception(
                "consent expiry failed for a site; retrying at the next interval",
                extra={"site_id": site_id},
            )
    return expired


async def run_expiry(resources: Resources, stop: asyncio.Event) -> None:
    """Background task: record `expired` rows for lapsed consents, hourly, until `stop`."""
    while not stop.is_set():
        try:
            await expire_all(resources=resources)
        except Exception:
            log.exception("consent expiry pass failed; retrying at the next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), EXPIRY_INTERVAL_S)


async def restore_revocations(resources: Resources) -> None:
    """Startup hook: re-apply the revocations of every token that could still be alive.

    The in-process notifier forgets on restart, and Redis may have lost its keys; the
    ledger has not. Every withdrawal, opt-out, expiry or erasure of `identification`
    younger than a token's lifetime is revoked again.
    """
    since = datetime.now(UTC) - timedelta(milliseconds=TOKEN_LIFETIME_MS + 60_000)
    async with resources.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    consent_ledger.c.site_id,
                    consent_ledger.c.subject_id,
                    func.max(consent_ledger.c.recorded_at).label("at"),
                )
                .where(
                    consent_ledger.c.recorded_at >= since,
                    consent_ledger.c.purpose.in_([IDENTIFICATION, ALL_PURPOSES]),
                    consent_ledger.c.event != LedgerEvent.given.value,
                )
                .group_by(consent_ledger.c.site_id, consent_ledger.c.subject_id)
            )
        ).all()
    for row in rows:
        await resources.revocations.revoke(
            Revocation(row.site_id, row.subject_id, now_ms(as_utc(row.at)), "restored")
        )
    if rows:
        log.info("re-applied %d consent revocations from the ledger", len(rows))
