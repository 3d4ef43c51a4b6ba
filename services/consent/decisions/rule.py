"""The consent decision rule: a visitor's choices, read against the notice and the current
state, become the ledger rows to append and what follows from them. Pure: no database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.consent.ledger.service import Method, NewEntry, Source
from services.consent.notices.exceptions import NoticeChanged
from services.consent.notices.service import Notice
from services.consent.state.service import PurposeState
from shared.consent_state import LedgerEvent
from shared.consent_tokens import IDENTIFICATION


@dataclass(frozen=True, slots=True)
class ShownText:
    """A decision made in another consent manager: which one, and the SHA-256 of its text."""

    source: Source
    text_hash: str


@dataclass(frozen=True, slots=True)
class DecisionPlan:
    """What a decision records, and what must follow before and after it is committed."""

    entries: tuple[NewEntry, ...]  # ledger rows to append, in the notice's purpose order
    unlink: bool  # identification ends: the identity and every link to the subject go
    revoke: bool  # identification ends: every token issued for it is revoked
    issue_token: bool  # identification is granted once the rows are appended


def decide(
    *,
    notice: Notice,
    before: Sequence[PurposeState],
    subject_id: str,
    choices: Mapping[str, bool],
    method: Method,
    jurisdiction: str | None,
    gpc: bool,
    now: datetime,
    shown: ShownText | None = None,
    seen: Mapping[str, str] | None = None,
) -> DecisionPlan:
    """The ledger rows for `choices` (purpose -> give or not), given each purpose's state.

    A choice of true is `given` (for the current text, expiring after the purpose's lifetime); false
    is `withdrawn` when the purpose was granted, else `refused`; a purpose not chosen gets no
    row. With `gpc` (Sec-GPC: 1), every purpose GPC covers is refused as a `gpc_opt_out`,
    whatever was chosen, unless that opt-out already stands and nothing was chosen for it.
    A row for `identification` that is not `given` ends that consent: its link to an
    identity goes and its tokens are revoked. Unknown purposes are refused (UnknownPurpose).
    With `shown` (a decision made in another consent manager), each chosen row records that
    manager and the hash of its text instead of Overt's notice version and text.
    With `seen` (purpose -> hash of the text the visitor saw), consent given to a text that
    is not the current one is refused whole (NoticeChanged): a stale widget cannot turn a
    tick on the old text into consent to the new one.
    """
    for name in choices:
        notice.purpose(name)
    if seen is not None:
        stale = [
            name
            for name, chosen in choices.items()
            if chosen and seen.get(name) != notice.purpose(name).text_hash
        ]
        if stale:
            raise NoticeChanged(stale)
    states = {state.purpose.purpose: state for state in before}
    entries: list[NewEntry] = []
    for purpose in notice.purposes:
        name = purpose.purpose
        chosen = choices.get(name)
        if gpc and purpose.gpc_opt_out:
            already = states[name].status == LedgerEvent.gpc_opt_out and not states[name].ask
            if chosen is None and already:
                continue
            event, row_method, expires = LedgerEvent.gpc_opt_out, Method.gpc, None
        elif chosen is None:
            continue
        elif chosen:
            event, row_method, expires = LedgerEvent.given, method, now + purpose.lifetime
        else:
            event = LedgerEvent.withdrawn if states[name].granted else LedgerEvent.refused
            row_method, expires = method, None
        bridged = shown is not None and row_method != Method.gpc
        entries.append(
            NewEntry(
                subject_id=subject_id,
                event=event,
                purpose=name,
                method=row_method,
                notice_version=None if bridged else notice.version,
                notice_hash=shown.text_hash if shown and bridged else purpose.text_hash,
                jurisdiction=jurisdiction,
                expires_at=expires,
                source=shown.source if shown and bridged else None,
            )
        )
    identification = [entry for entry in entries if entry.purpose == IDENTIFICATION]
    ends = any(entry.event != LedgerEvent.given for entry in identification)
    if identification:
        granted_after = identification[-1].event == LedgerEvent.given
    else:
        granted_after = any(
            state.purpose.purpose == IDENTIFICATION and state.granted for state in before
        )
    return DecisionPlan(entries=tuple(entries), unlink=ends, revoke=ends, issue_token=granted_after)
