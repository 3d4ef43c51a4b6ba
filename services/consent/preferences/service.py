"""What the preference page shows, and its pages rendered through templates/ (autoescaped)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from services.consent.assets import PREFERENCES_CSS, PREFERENCES_CSS_PATH
from services.consent.crypto import utc_text
from services.consent.identities.service import Identity
from services.consent.ledger.service import LedgerEntry
from services.consent.state.service import PurposeState
from shared.consent_state import LedgerEvent
from shared.consent_tokens import IDENTIFICATION
from shared.sites import Site
from shared.subject_records import Recipient
from shared.templates import template_environment

templates = template_environment(Path(__file__).parent / "templates")
templates.globals["stylesheet"] = PREFERENCES_CSS.url(PREFERENCES_CSS_PATH)

STATUS_WORDS = {
    None: "Not decided",
    "given": "Allowed",
    "refused": "Not allowed",
    "withdrawn": "Withdrawn",
    "expired": "Expired, asked again",
    "gpc_opt_out": "Refused by your browser's Global Privacy Control",
    "erased": "Erased",
}


@dataclass(frozen=True, slots=True)
class Choice:
    """One purpose as the page shows it: its text, its status in words, until when."""

    purpose: str
    title: str
    text: str
    status: str
    until: str | None  # while granted: when it expires
    dpv_term: str
    text_hash_prefix: str


@dataclass(frozen=True, slots=True)
class HistoryRow:
    recorded_at: str
    purpose: str
    event: str
    method: str
    notice_version: str


@dataclass(frozen=True, slots=True)
class ReceiptView:
    receipt_id: str
    body: str  # the envelope as indented JSON


def choice(state: PurposeState) -> Choice:
    """A purpose's state in the page's words."""
    purpose = state.purpose
    status = STATUS_WORDS.get(state.status, state.status or "")
    if state.status == LedgerEvent.given and not state.granted:
        status = "Asked again: the text changed"
    return Choice(
        purpose=purpose.purpose,
        title=purpose.title,
        text=purpose.text,
        status=status,
        until=(utc_text(state.expires_at) or "") if state.granted else None,
        dpv_term=purpose.dpv_term,
        text_hash_prefix=purpose.text_hash[:16],
    )


def history_row(entry: LedgerEntry) -> HistoryRow:
    return HistoryRow(
        recorded_at=utc_text(entry.recorded_at) or "",
        purpose=entry.purpose,
        event=entry.event,
        method=entry.method,
        notice_version="" if entry.notice_version is None else str(entry.notice_version),
    )


def receipt_view(envelope: Mapping[str, object]) -> ReceiptView:
    inner = envelope.get("receipt")
    receipt_id = inner.get("receipt_id") if isinstance(inner, dict) else ""
    return ReceiptView(
        receipt_id="" if receipt_id is None else str(receipt_id),
        body=orjson.dumps(envelope, option=orjson.OPT_INDENT_2).decode(),
    )


def render_page(
    *,
    site: Site,
    csrf: str,
    subject_id: str | None,
    states: Sequence[PurposeState],
    entries: Sequence[LedgerEntry],
    receipts: Sequence[Mapping[str, object]],
    identity: Identity | None,
    notice_version: int,
    message: str | None,
    recipients: Sequence[Recipient] = (),
) -> str:
    """The preference page: each purpose with its status and buttons, and what is held."""
    identification = next((s for s in states if s.purpose.purpose == IDENTIFICATION), None)
    return templates.get_template("preferences.html").render(
        site=site,
        csrf=csrf,
        subject_id=subject_id,
        message=message,
        notice_version=notice_version,
        choices=[choice(state) for state in states],
        identity=identity,
        recipients=[
            {"name": r.name, "since": r.first_sent_at.strftime("%Y-%m-%d"), "removed": r.removed}
            for r in recipients
        ],
        offer_email=identification is not None and identification.granted,
        history=[history_row(entry) for entry in entries],
        receipts=[receipt_view(envelope) for envelope in receipts],
    )


def render_confirm_address(*, site: Site, address: str, token: str) -> str:
    """The page an e-mailed link opens: what it would link, and a button to confirm."""
    return templates.get_template("confirm_address.html").render(
        site=site, address=address, token=token
    )


def render_address_confirmed(*, site: Site, address: str) -> str:
    """The page after a confirmed link."""
    return templates.get_template("address_confirmed.html").render(site=site, address=address)
