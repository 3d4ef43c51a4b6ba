"""The consent ledger: append-only, hash-chained per site, with signed checkpoints.

Each row's hash covers its content and the previous row's hash, so editing, deleting or
reordering a row breaks the chain from that row on. Each append transaction signs the new
head with the site's Ed25519 key (a checkpoint); the private key is sealed with the server
secret, so even someone who can rewrite the table and recompute every hash cannot make
the checkpoints agree.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.consent.crypto import (
    GENESIS_HASH,
    b64url,
    canonical_json,
    sha256_hex,
    utc_text,
    verify_signature,
)
from services.consent.keys.service import SiteKeys, load_site_keys
from services.consent.ledger.models import (
    consent_chain_heads,
    consent_checkpoints,
    consent_ledger,
)
from shared.consent_state import LedgerEvent
from shared.dialect import insert_if_absent
from shared.models import sites


class Method(StrEnum):
    widget = "widget"
    preference_page = "preference_page"
    api = "api"
    gpc = "gpc"
    system = "system"  # expiry and erasure bookkeeping
    cmp = "cmp"  # another consent manager's dialog, through its bridge (the row's `source`)


class Source(StrEnum):
    """The consent managers whose decisions reach the ledger through a bridge script
    (static/cmp/NAME.js): the row records which one showed the text."""

    cookiebot = "cookiebot"
    onetrust = "onetrust"
    klaro = "klaro"
    cookieconsent = "cookieconsent"


@dataclass(frozen=True, slots=True)
class NewEntry:
    subject_id: str
    event: LedgerEvent
    purpose: str
    method: Method
    notice_version: int | None = None
    notice_hash: str | None = None
    jurisdiction: str | None = None
    expires_at: datetime | None = None
    source: Source | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    site_id: str
    seq: int
    entry_id: str
    subject_id: str
    event: str
    purpose: str
    notice_version: int | None
    notice_hash: str | None
    method: str
    recorded_at: datetime
    jurisdiction: str | None
    expires_at: datetime | None
    prev_hash: str
    row_hash: str
    source: str | None = None

    def public(self) -> dict[str, Any]:
        """The row as JSON (history, export)."""
        return {
            "seq": self.seq,
            "entry_id": self.entry_id,
            "event": self.event,
            "purpose": self.purpose,
            "notice_version": self.notice_version,
            "notice_sha256": self.notice_hash,
            "method": self.method,
            "recorded_at": utc_text(self.recorded_at),
            "jurisdiction": self.jurisdiction,
            "expires_at": utc_text(self.expires_at),
            "source": self.source,
            "prev_hash": self.prev_hash,
            "row_hash": self.row_hash,
        }


def row_hash(*, site_id: str, seq: int, fields: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 over the previous row's hash and this row's canonical content (`source` only
    when set, so rows from before it existed keep their hashes)."""
    content = {
        "site_id": site_id,
        "seq": seq,
        "entry_id": fields["entry_id"],
        "subject_id": fields["subject_id"],
        "event": fields["event"],
        "purpose": fields["purpose"],
        "notice_version": fields["notice_version"],
        "notice_hash": fields["notice_hash"],
        "method": fields["method"],
        "recorded_at": utc_text(fields["recorded_at"]),
        "jurisdiction": fields["jurisdiction"],
        "expires_at": utc_text(fields["expires_at"]),
    }
    if fields.get("source") is not None:
        content["source"] = fields["source"]
    return sha256_hex(prev_hash.encode() + b"\n" + canonical_json(content))


def checkpoint_message(
    *, site_id: str, seq: int, row_hash: str, signed_at: datetime | str
) -> bytes:
    """What a checkpoint's signature covers (`signed_at` as a datetime or its UTC text)."""
    signed = signed_at if isinstance(signed_at, str) else utc_text(signed_at)
    return canonical_json(
        {"site_id": site_id, "seq": seq, "row_hash": row_hash, "signed_at": signed}
    )


def checkpoint_public(row: Any) -> dict[str, Any]:
    """A checkpoint as JSON, to be kept outside the database (`overt ledger verify --json`)."""
    return {
        "site_id": row.site_id,
        "seq": int(row.seq),
        "row_hash": row.row_hash,
        "signed_at": utc_text(row.signed_at),
        "key_id": row.key_id,
        "signature": b64url(bytes(row.signature)),
    }


@dataclass(frozen=True, slots=True)
class Evidence:
    """A signed claim kept outside the database: the site's chain had row `seq` with hash
    `row_hash`. `message` is what `signature` (the site's Ed25519 key) covers."""

    site_id: str
    seq: int
    row_hash: str
    source: str  # where it came from, for the report: "line 3 (receipt 5f2c...)"
    message: bytes
    signature: bytes


async def create_chain(*, conn: AsyncConnection, site_id: str) -> None:
    """Start the site's chain at the genesis hash (once)."""
    await insert_if_absent(
        conn, consent_chain_heads, {"site_id": site_id, "seq": 0, "head_hash": GENESIS_HASH}
    )


async def lock_chain(*, conn: AsyncConnection, site_id: str) -> None:
    """Take the site's chain lock for the rest of the transaction.

    Call it first in a transaction that reads state and then appends: decisions are then
    made on what the chain holds, not on what it held before a concurrent append. (Postgres:
    the head row's lock. SQLite: the database write lock, taken before any read, which also
    avoids SQLITE_BUSY on a read-then-write upgrade.)
    """
    await conn.execute(
        update(consent_chain_heads)
        .where(consent_chain_heads.c.site_id == site_id)
        .values(seq=consent_chain_heads.c.seq)
    )


async def append_entries(
    *,
    conn: AsyncConnection,
    keys: SiteKeys,
    entries: Sequence[NewEntry],
    now: datetime,
) -> list[LedgerEntry]:
    """Append rows to the site's chain inside the caller's transaction and sign the new head."""
    if not entries:
        return []
    site_id = keys.site_id
    # Concurrent appends queue on this lock instead of forking the chain.
    await lock_chain(conn=conn, site_id=site_id)
    head = (
        await conn.execute(
            select(consent_chain_heads.c.seq, consent_chain_heads.c.head_hash).where(
                consent_chain_heads.c.site_id == site_id
            )
        )
    ).one()
    seq, prev = int(head.seq), str(head.head_hash)
    written: list[LedgerEntry] = []
    for entry in entries:
        seq += 1
        fields: dict[str, Any] = {
            "entry_id": secrets.token_hex(16),
            "subject_id": entry.subject_id,
            "event": entry.event.value,
            "purpose": entry.purpose,
            "notice_version": entry.notice_version,
            "notice_hash": entry.notice_hash,
            "method": entry.method.value,
            "recorded_at": now,
            "jurisdiction": entry.jurisdiction,
            "expires_at": entry.expires_at,
            "source": entry.source.value if entry.source else None,
        }
        digest = row_hash(site_id=site_id, seq=seq, fields=fields, prev_hash=prev)
        await conn.execute(
            insert(consent_ledger).values(
                site_id=site_id, seq=seq, prev_hash=prev, row_hash=digest, **fields
            )
        )
        written.append(
            LedgerEntry(site_id=site_id, seq=seq, prev_hash=prev, row_hash=digest, **fields)
        )
        prev = digest
    await conn.execute(
        update(consent_chain_heads)
        .where(consent_chain_heads.c.site_id == site_id)
        .values(seq=seq, head_hash=prev)
    )
    await conn.execute(
        insert(consent_checkpoints).values(
            site_id=site_id,
            seq=seq,
            row_hash=prev,
            signed_at=now,
            key_id=keys.key_id,
            signature=keys.sign(
                checkpoint_message(site_id=site_id, seq=seq, row_hash=prev, signed_at=now)
            ),
        )
    )
    return written


def entry_from_row(row: Any) -> LedgerEntry:
    return LedgerEntry(
        site_id=row.site_id,
        seq=int(row.seq),
        entry_id=row.entry_id,
        subject_id=row.subject_id,
        event=row.event,
        purpose=row.purpose,
        notice_version=row.notice_version,
        notice_hash=row.notice_hash,
        method=row.method,
        recorded_at=row.recorded_at,
        jurisdiction=row.jurisdiction,
        expires_at=row.expires_at,
        prev_hash=row.prev_hash,
        row_hash=row.row_hash,
        source=row.source,
    )


async def subject_entries(
    *, conn: AsyncConnection, site_id: str, subject_id: str
) -> list[LedgerEntry]:
    """Every ledger row about one subject, oldest first."""
    rows = await conn.execute(
        select(consent_ledger)
        .where(consent_ledger.c.site_id == site_id, consent_ledger.c.subject_id == subject_id)
        .order_by(consent_ledger.c.seq)
    )
    return [entry_from_row(row) for row in rows]


@dataclass
class VerifyReport:
    site_id: str
    rows: int = 0
    checkpoints: int = 0
    evidence: int = 0  # outside claims checked (receipt rows, kept checkpoints)
    problems: list[str] = field(default_factory=list)
    head: dict[str, Any] | None = None  # the newest signed checkpoint, to keep outside

    @property
    def ok(self) -> bool:
        return not self.problems


def _describe(site_id: str, seq: int, entry_id: str | None = None) -> str:
    which = f"row {seq}" + (f" (entry {entry_id})" if entry_id else "")
    return f"site {site_id} {which}"


async def verify_site(
    *,
    engine: AsyncEngine,
    secret: bytes,
    site_id: str,
    evidence: Sequence[Evidence] = (),
) -> VerifyReport:
    """Recompute the site's chain, check every signed checkpoint against it, and every claim
    kept outside (receipts, checkpoints) that is signed by the site's key."""
    report = VerifyReport(site_id=site_id)
    async with engine.connect() as conn:
        try:
            keys = await load_site_keys(conn=conn, secret=secret, site_id=site_id)
        except ValueError as exc:
            report.problems.append(f"site {site_id}: keys do not verify ({exc})")
            return report
        rows = (
            await conn.execute(
                select(consent_ledger)
                .where(consent_ledger.c.site_id == site_id)
                .order_by(consent_ledger.c.seq)
            )
        ).all()
        checkpoints = (
            await conn.execute(
                select(consent_checkpoints)
                .where(consent_checkpoints.c.site_id == site_id)
                .order_by(consent_checkpoints.c.seq)
            )
        ).all()
        head = (
            await conn.execute(
                select(consent_chain_heads.c.seq).where(consent_chain_heads.c.site_id == site_id)
            )
        ).scalar_one_or_none()
    by_seq: dict[int, str] = {}
    expected_seq, prev = 1, GENESIS_HASH
    for row in rows:
        entry = entry_from_row(row)
        report.rows += 1
        gap = entry.seq != expected_seq
        if gap:
            if entry.seq > expected_seq:
                missing = (
                    f"row {expected_seq}"
                    if entry.seq == expected_seq + 1
                    else f"rows {expected_seq}-{entry.seq - 1}"
                )
                report.problems.append(
                    f"site {site_id} {missing} missing: deleted before "
                    f"{_describe(site_id, entry.seq, entry.entry_id)}"
                )
            expected_seq = entry.seq
        recomputed = row_hash(
            site_id=site_id,
            seq=entry.seq,
            fields={
                "entry_id": entry.entry_id,
                "subject_id": entry.subject_id,
                "event": entry.event,
                "purpose": entry.purpose,
                "notice_version": entry.notice_version,
                "notice_hash": entry.notice_hash,
                "method": entry.method,
                "recorded_at": entry.recorded_at,
                "jurisdiction": entry.jurisdiction,
                "expires_at": entry.expires_at,
                "source": entry.source,
            },
            prev_hash=entry.prev_hash,
        )
        if recomputed != entry.row_hash:
            report.problems.append(
                f"{_describe(site_id, entry.seq, entry.entry_id)} edited or moved: "
                "its content does not match its hash"
            )
        elif not gap and entry.prev_hash != prev:
            report.problems.append(
                f"{_describe(site_id, entry.seq, entry.entry_id)} does not follow row "
                f"{entry.seq - 1}: a row before it was deleted, replaced or reordered"
            )
        by_seq[entry.seq] = entry.row_hash
        prev = entry.row_hash
        expected_seq += 1
    last_seq = expected_seq - 1
    for checkpoint in checkpoints:
        report.checkpoints += 1
        seq = int(checkpoint.seq)
        signed = keys is not None and verify_signature(
            keys.public_key,
            bytes(checkpoint.signature),
            checkpoint_message(
                site_id=site_id,
                seq=seq,
                row_hash=checkpoint.row_hash,
                signed_at=checkpoint.signed_at,
            ),
        )
        if not signed:
            report.problems.append(f"site {site_id} checkpoint at row {seq}: bad signature")
        elif seq not in by_seq:
            report.problems.append(
                f"{_describe(site_id, seq)} missing: a signed checkpoint covers it (deleted)"
            )
        elif by_seq[seq] != checkpoint.row_hash:
            report.problems.append(
                f"{_describe(site_id, seq)} does not match its signed checkpoint: "
                "it or a row before it was rewritten"
            )
    if head is not None and int(head) > last_seq:
        report.problems.append(
            f"site {site_id} row {last_seq + 1} missing: the chain should end at row {head}"
        )
    if checkpoints:
        report.head = checkpoint_public(checkpoints[-1])
    _check_evidence(report, keys, [e for e in evidence if e.site_id == site_id], by_seq, last_seq)
    return report


def _missing(site_id: str, first: int, last: int) -> str:
    rows = f"row {first}" if first == last else f"rows {first}-{last}"
    return f"site {site_id} {rows} missing"


def _check_evidence(
    report: VerifyReport,
    keys: SiteKeys | None,
    evidence: Sequence[Evidence],
    by_seq: dict[int, str],
    last_seq: int,
) -> None:
    """Compare signed claims kept outside the database with the chain it holds."""
    site_id = report.site_id
    beyond: list[Evidence] = []
    for claim in evidence:
        if keys is None or not verify_signature(keys.public_key, claim.signature, claim.message):
            report.problems.append(
                f"{claim.source}: not signed by site {site_id}'s key, so it proves nothing"
            )
            continue
        report.evidence += 1
        if claim.seq > last_seq:
            beyond.append(claim)
        elif claim.seq not in by_seq:
            report.problems.append(
                f"{_missing(site_id, claim.seq, claim.seq)}: {claim.source} shows it existed"
            )
        elif by_seq[claim.seq] != claim.row_hash:
            report.problems.append(
                f"{_describe(site_id, claim.seq)} does not match {claim.source}: "
                "it or a row before it was rewritten"
            )
    if beyond:
        top = max(beyond, key=lambda claim: claim.seq)
        others = len({claim.source for claim in beyond} - {top.source})
        also = f" (and {others} more kept outside)" if others else ""
        report.problems.append(
            f"{_missing(site_id, last_seq + 1, top.seq)}: {top.source}{also} shows "
            f"the ledger reached row {top.seq}, the database ends at row {last_seq}: "
            "its newest rows were cut off"
        )


async def ledger_sites(*, engine: AsyncEngine) -> list[str]:
    """Every registered site, in id order (deleting a site's keys must not hide its chain)."""
    async with engine.connect() as conn:
        return list((await conn.execute(select(sites.c.id).order_by(sites.c.id))).scalars())
