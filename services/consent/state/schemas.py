"""Wire models of a subject's consent state, and how states become them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from services.consent.notices.schemas import PurposeOut
from services.consent.state.service import PurposeState


class PurposeStateOut(PurposeOut):
    status: str | None
    granted: bool
    ask: bool
    decided_at: str | None
    expires_at: str | None


class StateOut(BaseModel):
    subject_id: str
    notice_version: int
    purposes: list[PurposeStateOut]
    consent_mode: dict[str, Literal["granted", "denied"]]


def state_out(subject_id: str, notice_version: int, states: Sequence[PurposeState]) -> StateOut:
    """The subject's states on the wire, with the Google Consent Mode signals they imply."""
    signals: dict[str, Literal["granted", "denied"]] = {}
    for state in states:
        for signal in state.purpose.consent_mode:
            signals[signal] = "granted" if state.granted else "denied"
    return StateOut(
        subject_id=subject_id,
        notice_version=notice_version,
        purposes=[PurposeStateOut(**state.public()) for state in states],
        consent_mode=signals,
    )
