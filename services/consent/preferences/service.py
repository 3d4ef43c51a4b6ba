"""What the preference page shows, and its pages rendered through templates/ (autoescaped)."""

from __future__ import annotations

import gettext
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from markupsafe import Markup, escape

from services.consent.assets import PREFERENCES_CSS, PREFERENCES_CSS_PATH
from services.consent.crypto import utc_text
from services.consent.identities.service import Identity
from services.consent.languages import LANGUAGES, page_language
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

_PLACEHOLDER = re.compile(r"%\([a-z_]+\)s")
_TAG = re.compile(r"<[^<>]*>")
KEY_WORDS = 4  # a key is the message's first words, more where two messages begin alike


def _words_of(message: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", _TAG.sub(" ", _PLACEHOLDER.sub(" ", message.lower())))


def message_keys(messages: Sequence[str]) -> dict[str, str]:
    """A stable name for each message, `key -> message`: its first four words in lower case
    joined by `_`, as many more as tell it from every other message (`erase` and
    `erase_my_identity_and`). It changes only when the English words it is made of change."""
    worded = {message: _words_of(message) for message in messages if message}
    keys: dict[str, str] = {}
    for message, words in worded.items():
        n = min(KEY_WORDS, len(words))
        while n < len(words) and any(
            other is not message and others[:n] == words[:n] for other, others in worded.items()
        ):
            n += 1
        key = "_".join(words[:n])
        if key in keys or not key:
            raise ValueError(f"two messages share the key {key!r}: word one of them apart")
        keys[key] = message
    return keys


def _messages() -> list[str]:
    with (LOCALE / "messages.pot").open("rb") as pot:
        return [m.id for m in read_po(pot) if isinstance(m.id, str) and m.id]


PAGE_KEYS = message_keys(_messages())


def check_page_text(key: str, text: str) -> str:
    """A site's wording of the message named `key`: it keeps the message's placeholders
    (`%(domain)s`) and its markup (`<strong>`, the link), and holds no other `<`, `>` or
    `%` the page would misread. Raises ValueError saying what is wrong."""
    message = PAGE_KEYS.get(key)
    if message is None:
        raise ValueError(f"no message of the preference page is named {key!r}")
    if sorted(_PLACEHOLDER.findall(text)) != sorted(_PLACEHOLDER.findall(message)):
        names = ", ".join(_PLACEHOLDER.findall(message)) or "none"
        raise ValueError(f"{key}: keep the placeholders exactly ({names})")
    if sorted(_TAG.findall(text)) != sorted(_TAG.findall(message)):
        kept = " ".join(_TAG.findall(message)) or "none"
        raise ValueError(f"{key}: keep the markup exactly ({kept})")
    if "<" in _TAG.sub("", text) or ">" in _TAG.sub("", text):
        raise ValueError(f"{key}: no < or > outside the message's own markup")
    if _PLACEHOLDER.search(message):
        try:
            text % {name[2:-2]: "" for name in _PLACEHOLDER.findall(message)}
        except (ValueError, TypeError, KeyError):
            raise ValueError(f"{key}: write a % sign as %%") from None
    return text


def _own_markup(text: str) -> Markup:
    """A site's checked wording as markup: the message's own tags kept, the rest escaped."""
    parts = _TAG.split(text)
    tags = _TAG.findall(text)
    out = [str(escape(parts[0]))]
    for tag, part in zip(tags, parts[1:], strict=True):
        out += [tag, str(escape(part))]
    return Markup("".join(out))  # noqa: S704 (the tags are the catalogue's, the rest escaped)


def site_wording(site: Site | None, lang: str) -> dict[str, Markup]:
    """The site's own wording of the page's messages in `lang`, `message -> markup`: only
    overrides that still fit their message (one whose message changed is left out)."""
    if site is None:
        return {}
    own: dict[str, Markup] = {}
    for key, text in site.settings.page_strings.get(lang, {}).items():
        try:
            check_page_text(key, text)
        except ValueError:
            continue
        own[PAGE_KEYS[key]] = _own_markup(text)
    return own


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
        **words(lang, site),
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


def words(lang: str, site: Site | None = None) -> dict[str, Any]:
    """What a template needs to speak `lang`: the page's language and its gettext, with the
    site's own wording of a message (`page_strings`) over the catalogue's.

    A message (ours, from the catalogues) is markup, as in a {% trans %} block; what is put
    into it, and every value printed outside one, is escaped. A site's wording keeps only
    the message's own tags; the rest of it is escaped."""
    catalogue = CATALOGUES[lang]
    own = site_wording(site, lang)

    def translated(message: str) -> Markup:
        if not message:  # gettext("") is the catalogue's header
            return Markup("")
        if message in own:
            return own[message]
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
        **words(lang, site), site=site, address=address, token=token
    )


REFUSALS = {
    "expired": N_(
        "This link to your privacy choices has expired: it lasts ten minutes. Go back to the "
        "site and open your privacy choices again."
    ),
    "erased": N_("Everything linked to this link was erased: there are no choices to show."),
    "used": N_(
        "This link to your privacy choices was already opened: each link opens them once. Go "
        "back to the site and open your privacy choices again."
    ),
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
        **words(lang, site), site=site, reason=REFUSALS.get(reason, NOT_A_HANDOVER)
    )


MAIL_SUBJECT = N_("Confirm your address for %(domain)s")
MAIL_ASK = N_(
    "Someone (we hope you) asked %(domain)s to connect your visits to this address. Open this "
    "link within 24 hours to confirm:"
)
MAIL_IGNORE = N_("If it was not you, ignore this message: nothing is linked without the click.")


def plain_words(site: Site, lang: str, message: str) -> str:
    """A message as plain text (for a mail): the site's wording in `lang` where it has one
    that fits, else the catalogue's."""
    for key, text in site.settings.page_strings.get(lang, {}).items():
        if PAGE_KEYS.get(key) == message:
            try:
                return check_page_text(key, text)
            except ValueError:
                break
    return CATALOGUES[lang].gettext(message)


def verification_mail(site: Site, lang: str, link: str) -> tuple[str, str]:
    """The verification mail's subject and body in `lang`, with the site's own wording."""
    names = {"domain": site.domain}
    subject = plain_words(site, lang, MAIL_SUBJECT) % names
    ask = plain_words(site, lang, MAIL_ASK) % names
    return subject, f"{ask}\n\n{link}\n\n{plain_words(site, lang, MAIL_IGNORE)}"


def widget_verification_mail(site: Site, accept_language: str | None, link: str) -> tuple[str, str]:
    """The verification mail the widget asks for, in the visitor's browser language."""
    return verification_mail(site, page_language(None, accept_language), link)


def render_address_confirmed(*, site: Site, address: str, lang: str = "en") -> str:
    """The page after a confirmed link."""
    return templates.get_template("address_confirmed.html").render(
        **words(lang, site), site=site, address=address
    )
