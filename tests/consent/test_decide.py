"""The consent decision rule on its own: choices and state in, ledger rows and what follows out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.consent.decisions.rule import DecisionPlan, decide
from services.consent.ledger.service import Method
from services.consent.notices.exceptions import UnknownPurpose
from services.consent.notices.service import CONSENT_LIFETIME, Notice, Purpose
from services.consent.state.service import PurposeState
from shared.consent_state import LedgerEvent

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
SUBJECT = "a" * 32


def purpose(name: str, *, gpc_opt_out: bool) -> Purpose:
    return Purpose(
        purpose=name,
        title=name.title(),
        text=f"The text of {name}.",
        text_hash=name[0] * 64,
        dpv_term="dpv:Purpose",
        consent_mode=(),
        gpc_opt_out=gpc_opt_out,
    )


NOTICE = Notice(
    site_id="site",
    version=3,
    purposes=(
        purpose("analytics", gpc_opt_out=False),
        purpose("identification", gpc_opt_out=True),
        purpose("marketing_contact", gpc_opt_out=True),
    ),
)


def state(
    name: str, status: str | None = None, *, granted: bool = False, ask: bool | None = None
) -> PurposeState:
    expires = NOW + timedelta(days=30) if granted else None
    return PurposeState(
        purpose=NOTICE.purpose(name),
        status=status,
        granted=granted,
        ask=status is None if ask is None else ask,
        decided_at=None if status is None else NOW - timedelta(days=1),
        expires_at=expires,
    )


def undecided() -> list[PurposeState]:
    return [state(p.purpose) for p in NOTICE.purposes]


def plan(
    choices: dict[str, bool],
    before: list[PurposeState] | None = None,
    *,
    gpc: bool = False,
    method: Method = Method.widget,
) -> DecisionPlan:
    return decide(
        notice=NOTICE,
        before=undecided() if before is None else before,
        subject_id=SUBJECT,
        choices=choices,
        method=method,
        jurisdiction="EU",
        gpc=gpc,
        now=NOW,
    )


def events(decided: DecisionPlan) -> dict[str, LedgerEvent]:
    return {entry.purpose: entry.event for entry in decided.entries}


def test_a_given_choice_is_one_row_for_the_current_text_expiring_after_the_lifetime() -> None:
    decided = plan({"analytics": True})
    assert len(decided.entries) == 1
    entry = decided.entries[0]
    assert entry.event == LedgerEvent.given
    assert entry.subject_id == SUBJECT
    assert entry.method == Method.widget
    assert entry.notice_version == 3
    assert entry.notice_hash == NOTICE.purpose("analytics").text_hash
    assert entry.jurisdiction == "EU"
    assert entry.expires_at == NOW + CONSENT_LIFETIME
    assert (decided.unlink, decided.revoke, decided.issue_token) == (False, False, False)


def test_rows_follow_the_notice_order_not_the_order_chosen() -> None:
    decided = plan({"marketing_contact": False, "analytics": True})
    assert [entry.purpose for entry in decided.entries] == ["analytics", "marketing_contact"]


def test_giving_identification_issues_a_token_and_ends_nothing() -> None:
    decided = plan({"identification": True})
    assert events(decided) == {"identification": LedgerEvent.given}
    assert decided.issue_token
    assert (decided.unlink, decided.revoke) == (False, False)


def test_refusing_what_was_never_granted_is_a_refusal_without_expiry() -> None:
    decided = plan({"analytics": False})
    assert events(decided) == {"analytics": LedgerEvent.refused}
    assert decided.entries[0].expires_at is None


def test_refusing_what_was_granted_is_a_withdrawal() -> None:
    before = undecided()
    before[0] = state("analytics", "given", granted=True)
    assert events(plan({"analytics": False}, before)) == {"analytics": LedgerEvent.withdrawn}


def test_ending_identification_unlinks_and_revokes() -> None:
    before = undecided()
    before[1] = state("identification", "given", granted=True)
    decided = plan({"identification": False}, before)
    assert events(decided) == {"identification": LedgerEvent.withdrawn}
    assert (decided.unlink, decided.revoke) == (True, True)
    assert not decided.issue_token


def test_no_choice_records_nothing_and_keeps_a_granted_identification_token() -> None:
    before = undecided()
    before[1] = state("identification", "given", granted=True)
    decided = plan({}, before)
    assert decided.entries == ()
    assert decided.issue_token
    assert not plan({}).issue_token


def test_gpc_refuses_every_purpose_it_covers_whatever_was_chosen() -> None:
    decided = plan({"analytics": True, "identification": True}, gpc=True)
    assert events(decided) == {
        "analytics": LedgerEvent.given,
        "identification": LedgerEvent.gpc_opt_out,
        "marketing_contact": LedgerEvent.gpc_opt_out,
    }
    opt_outs = [entry for entry in decided.entries if entry.event == LedgerEvent.gpc_opt_out]
    assert {entry.method for entry in opt_outs} == {Method.gpc}
    assert all(entry.expires_at is None for entry in opt_outs)
    assert (decided.unlink, decided.revoke, decided.issue_token) == (True, True, False)


def test_gpc_does_not_repeat_an_opt_out_that_stands() -> None:
    before = [
        state("analytics"),
        state("identification", "gpc_opt_out", ask=False),
        state("marketing_contact", "gpc_opt_out", ask=False),
    ]
    assert plan({}, before, gpc=True).entries == ()
    # A choice made anyway is answered with the opt-out again.
    assert events(plan({"identification": True}, before, gpc=True)) == {
        "identification": LedgerEvent.gpc_opt_out
    }


def test_gpc_records_the_opt_out_again_when_the_purpose_asks_again() -> None:
    before = [
        state("analytics"),
        state("identification", "gpc_opt_out", ask=True),
        state("marketing_contact", "gpc_opt_out", ask=False),
    ]
    assert events(plan({}, before, gpc=True)) == {"identification": LedgerEvent.gpc_opt_out}


def test_an_unknown_purpose_is_refused() -> None:
    with pytest.raises(UnknownPurpose):
        plan({"advertising": True})
