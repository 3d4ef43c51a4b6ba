"""What the preference page shows, and its pages rendered through templates/ (autoescaped)."""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from markupsafe import Markup

from services.consent.assets import PREFERENCES_CSS, PREFERENCES_CSS_PATH
from services.consent.crypto import utc_text
from services.consent.identities.service import Identity
from services.consent.languages import LANGUAGES
from services.consent.ledger.service import LedgerEntry
from services.consent.state.service import PurposeState
from shared.consent_state import LedgerEvent
from shared.consent_tokens import IDENTIFICATION
from shared.sites import Site
from shared.subject_records import Recipient
from shared.templates import template_environment

templates = template_environment(Path(__file__).parent / "templates")
templates.add_extension("jinja2.ext.i18n")
templates.policies["ext.i18n.trimmed"] = True
templates.globals["stylesheet"] = PREFERENCES_CSS.url(PREFERENCES_CSS_PATH)
LOCALE = Path(__file__).parent / "locale"


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "translated where shown")
    """Marks a message for the catalogues; it is translated when the page is rendered."""
    return message


def _catalogue(lang: str) -> gettext.NullTranslations:
    """The page's messages in `lang`, compiled from its .po file (English: the messages)."""
    if lang == "en":
        return gettext.NullTranslations()
    with (LOCALE / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


CATALOGUES = {lang: _catalogue(lang) for lang in LANGUAGES}

STATUS_WORDS = {
    None: N_("Not decided"),
    "given": N_("Allowed"),
    "refused": N_("Not allowed"),
    "withdrawn": N_("Withdrawn"),
    "expired": N_("Expired, asked again"),
    "gpc_opt_out": N_("Refused by your browser's Global Privacy Control"),
    "erased": N_("Erased"),
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
        status = N_("Asked again: the text changed")
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
    lang: str = "en",
    keep_lang: bool = False,
) -> str:
    """The preference page: each purpose with its status and buttons, and what is held.
    `keep_lang`: the link chose the language (`?lang=`), so its forms keep it."""
    identification = next((s for s in states if s.purpose.purpose == IDENTIFICATION), None)
    return templates.get_template("preferences.html").render(
        **words(lang),
        keep_lang=keep_lang,
        controller=site.settings.controller or site.domain,
        privacy_url=site.settings.privacy_url,
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


def words(lang: str) -> dict[str, Any]:
    """What a template needs to speak `lang`: the page's language and its gettext.

    A message (ours, from the catalogues) is markup, as in a {% trans %} block; what is put
    into it, and every value printed outside one, is escaped."""
    catalogue = CATALOGUES[lang]

    def translated(message: str) -> Markup:
        if not message:  # gettext("") is the catalogue's header
            return Markup("")
        return Markup(catalogue.gettext(message))  # noqa: S704 (our catalogues, not input)

    return {
        "lang": lang,
        "_": translated,
        "gettext": translated,
        "ngettext": catalogue.ngettext,
    }


def render_confirm_address(*, site: Site, address: str, token: str, lang: str = "en") -> str:
    """The page an e-mailed link opens: what it would link, and a button to confirm."""
    return templates.get_template("confirm_address.html").render(
        **words(lang), site=site, address=address, token=token
    )


REFUSALS = {
    "expired": N_(
        "This link to your privacy choices has expired: it lasts ten minutes. Go back to the "
        "site and open your privacy choices again."
    ),
    "erased": N_("Everything linked to this link was erased: there are no choices to show."),
    "elsewhere": N_(
        "This link opens your privacy choices only when followed from the site's own pages. "
        "Go to the site and open your privacy choices there."
    ),
}
NOT_A_HANDOVER = N_(
    "This is not a valid link to your privacy choices. Go back to the site and open your "
    "privacy choices again."
)


def render_handover_refused(*, site: Site, reason: str, lang: str = "en") -> str:
    """The page a hand-over link that does not open the visitor's choices shows instead."""
    return templates.get_template("handover_refused.html").render(
        **words(lang), site=site, reason=REFUSALS.get(reason, NOT_A_HANDOVER)
    )


def render_address_confirmed(*, site: Site, address: str, lang: str = "en") -> str:
    """The page after a confirmed link."""
    return templates.get_template("address_confirmed.html").render(
        **words(lang), site=site, address=address
    )
