"""Recording a decision: lock the site's chain, read the state, apply the decision rule, then
append its rows, sign a receipt, unlink and revoke, and issue a token."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.consent.decisions.rule import DecisionPlan, ShownText, decide
from services.consent.identities.service import unlink_identity
from services.consent.keys.service import SiteKeys, site_keys
from services.consent.ledger.service import (
    LedgerEntry,
    Method,
    append_entries,
    lock_chain,
    subject_entries,
)
from services.consent.notices.service import Notice, load_notice
from services.consent.receipts.service import build_receipt, sign_receipt, store_receipt
from services.consent.state.service import PurposeState, states_from
from services.consent.tokens.service import revocation, revoke_tokens, token_for
from shared.consent_state import LedgerEvent
from shared.runtime import Resources
from shared.sites import Site


@dataclass(frozen=True, slots=True)
class Decision:
    subject_id: str
    entries: list[LedgerEntry]
    states: list[PurposeState]
    receipt: dict[str, Any] | None
    token: str | None


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
    shown: ShownText | None = None,
    seen: Mapping[str, str] | None = None,
) -> Decision:
    """Append the visitor's choices to the ledger, sign a receipt, revoke or issue tokens.

    With `gpc` (Sec-GPC: 1), every purpose GPC covers is refused as a `gpc_opt_out`,
    whatever was chosen (the rule is `decisions.rule.decide`).
    """
    now = now or datetime.now(UTC)
    secret = resources.settings.secret()
    async with resources.engine.begin() as conn:
        # First: the state is read, and the rule applied, on what the chain holds now.
        await lock_chain(conn=conn, site_id=site.id)
        keys = await site_keys(conn=conn, secret=secret, site_id=site.id)
        notice = await load_notice(conn=conn, site_id=site.id)
        earlier = await subject_entries(conn=conn, site_id=site.id, subject_id=subject_id)
        plan = decide(
            notice=notice,
            before=states_from(notice, earlier, now),
            subject_id=subject_id,
            choices=choices,
            method=method,
            jurisdiction=jurisdiction,
            gpc=gpc,
            now=now,
            shown=shown,
            seen=seen,
        )
        entries = await append_entries(conn=conn, keys=keys, entries=plan.entries, now=now)
        receipt = await sign_and_store_receipt(
            conn=conn,
            resources=resources,
            keys=keys,
            site=site,
            subject_id=subject_id,
            notice=notice,
            entries=entries,
            now=now,
        )
        await end_identification(
            conn=conn, resources=resources, plan=plan, site=site, subject_id=subject_id, now=now
        )
    states = states_from(notice, earlier + entries, now)
    token = None
    if plan.issue_token:
        token = token_for(
            secret=secret, site_id=site.id, subject_id=subject_id, states=states, now=now
        )
    return Decision(subject_id, entries, states, receipt, token)


async def sign_and_store_receipt(
    *,
    conn: AsyncConnection,
    resources: Resources,
    keys: SiteKeys,
    site: Site,
    subject_id: str,
    notice: Notice,
    entries: Sequence[LedgerEntry],
    now: datetime,
) -> dict[str, Any] | None:
    """The signed receipt for the rows just appended (kept for the subject), or None if none."""
    if not entries:
        return None
    receipt = sign_receipt(
        keys=keys,
        body=build_receipt(
            keys=keys,
            domain=site.domain,
            subject_id=subject_id,
            entries=entries,
            purposes={p.purpose: p.public() for p in notice.purposes},
            notice_url=(
                f"{resources.settings.base_url}/consent/sites/{site.id}/notices/{notice.version}"
            ),
            issued_at=now,
        ),
    )
    await store_receipt(conn=conn, site_id=site.id, subject_id=subject_id, envelope=receipt)
    return receipt


async def end_identification(
    *,
    conn: AsyncConnection,
    resources: Resources,
    plan: DecisionPlan,
    site: Site,
    subject_id: str,
    now: datetime,
) -> None:
    """When the plan ends identification: remove the link, publish the revocation."""
    if plan.unlink:
        # The link is for identification only: it ends with that consent.
        await unlink_identity(conn=conn, site_id=site.id, subject_id=subject_id)
    if plan.revoke:
        # Before the commit: a withdrawal that could not be published is not recorded
        # either (the visitor gets a 503 and tries again), never the reverse.
        await revoke_tokens(resources, revocation(site.id, subject_id, now, LedgerEvent.withdrawn))
