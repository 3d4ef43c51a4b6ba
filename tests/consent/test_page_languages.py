"""The preference page in every language: each message of its templates and Python is
translated in each catalogue (placeholders and markup kept), the language comes from the
link or the browser, and the page names the controller and links its privacy policy."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from services.consent.dependencies import mail_settings
from services.consent.languages import LANGUAGES, accepted_language, page_language
from services.consent.preferences import service as preferences
from shared.consent_tokens import IDENTIFICATION
from shared.sites import Site, update_site
from tests.helpers.consent import open_page, page_url, post
from tests.helpers.overt import Overt
from tests.helpers.smtp import Inbox, smtp_server, text_of

pytestmark = pytest.mark.anyio

HERE = Path(preferences.__file__).parent
TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]


def extracted() -> set[str]:
    """Every message the page's code and templates hold now (as `make messages` finds them)."""
    with (HERE / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found = extract_from_dir(
        str(HERE), method_map, options_map, keywords={"_": None, "gettext": None, "N_": None}
    )
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


def subject_of(message: Message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"%\([a-z_]+\)s", text))


def tags(text: str) -> list[str]:
    return sorted(re.findall(r"</?[a-z]+[^>]*>", text))


def test_the_messages_include_what_the_page_says() -> None:
    messages = extracted()
    assert "Allow" in messages
    assert "Refused by your browser's Global Privacy Control" in messages  # N_() in Python
    assert "Your choices are saved. A signed receipt is listed below." in messages
    assert "Responsible for your data: <strong>%(controller)s</strong>" in messages


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_is_translated(lang: str) -> None:
    with (HERE / "locale" / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalogue = read_po(po, locale=lang)
    held = {message.id: message for message in catalogue if message.id}
    missing = extracted() - held.keys()
    assert missing == set(), f"{lang}: run `make messages` and translate {sorted(missing)}"
    for msgid, message in held.items():
        assert isinstance(msgid, str)
        assert isinstance(message.string, str)
        assert message.string.strip(), f"{lang}: {msgid!r} is not translated"
        assert not message.fuzzy, f"{lang}: {msgid!r} is fuzzy"
        assert placeholders(message.string) == placeholders(msgid), f"{lang}: {msgid!r}"
        assert tags(message.string) == tags(msgid), f"{lang}: {msgid!r}"


ranges = st.tuples(
    st.sampled_from([*LANGUAGES, "pt", "zh", "*", "EN", "de-CH", "fr_FR"]),
    st.one_of(st.none(), st.integers(min_value=0, max_value=1000).map(lambda q: q / 1000)),
)


def header_of(items: list[tuple[str, float | None]]) -> str:
    return ", ".join(tag if q is None else f"{tag};q={q:.3f}" for tag, q in items)


@given(st.lists(ranges, max_size=8))
def test_accept_language_picks_the_most_wanted_language_we_speak(
    items: list[tuple[str, float | None]],
) -> None:
    ours = [
        (-(1.0 if q is None else q), i, re.split(r"[-_]", tag)[0].lower())
        for i, (tag, q) in enumerate(items)
        if re.split(r"[-_]", tag)[0].lower() in LANGUAGES and (q is None or q > 0)
    ]
    expected = min(ours)[2] if ours else None
    assert accepted_language(header_of(items)) == expected


@given(st.text(max_size=600))
def test_any_accept_language_header_is_read_without_failing(header: str) -> None:
    picked = accepted_language(header)
    assert picked is None or picked in LANGUAGES
    assert page_language(None, header) in LANGUAGES


def test_the_link_wins_over_the_browser() -> None:
    assert page_language("nl", "de") == "nl"
    assert page_language("pt", "de;q=0.5, fr") == "fr"
    assert page_language(None, None) == "en"


async def test_the_page_speaks_the_browsers_language_or_the_links(overt: Overt, site: Site) -> None:
    german = await overt.client.get(page_url(site), headers={"accept-language": "de-DE,de;q=0.9"})
    assert '<html lang="de">' in german.text
    assert f"Ihre Datenschutz-Einstellungen für {site.domain}" in german.text
    assert german.text.count(">Nicht erlauben</button>") == 3
    french = await overt.client.get(
        page_url(site), params={"lang": "fr"}, headers={"accept-language": "de"}
    )
    assert '<html lang="fr">' in french.text
    assert "Vos choix de confidentialité" in french.text
    other = await overt.client.get(page_url(site), headers={"accept-language": "pt-BR"})
    assert '<html lang="en">' in other.text
    # A form keeps the language it was shown in through its redirect.
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', french.text)
    assert csrf
    saved = await post(overt, site, "choices", csrf=csrf.group(1), grant="analytics", lang="fr")
    assert saved.headers["location"].endswith("?done=saved&lang=fr")
    after = await overt.client.get(saved.headers["location"])
    assert "Vos choix sont enregistrés" in after.text
    assert re.search(r'class="status">Autorisé<', after.text)


async def test_the_page_names_the_controller_and_links_the_policy(overt: Overt, site: Site) -> None:
    plain = await overt.client.get(page_url(site))
    assert f"Responsible for your data: <strong>{site.domain}</strong>" in plain.text
    assert "Privacy policy" not in plain.text
    await update_site(
        engine=overt.resources.engine,
        site_id=site.id,
        changes={"controller": "Café <Müller> & Co", "privacy_url": "https://example.com/p?a=1&b"},
    )
    named = await overt.client.get(page_url(site), headers={"accept-language": "it"})
    assert "Titolare dei tuoi dati: <strong>Café &lt;Müller&gt; &amp; Co</strong>" in named.text
    assert '<a href="https://example.com/p?a=1&amp;b">Informativa sulla privacy</a>' in named.text


def test_every_message_has_a_stable_key() -> None:
    keys = preferences.PAGE_KEYS
    assert set(keys.values()) == extracted()
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9_]{0,99}", key) for key in keys)
    assert keys["allow"] == "Allow"
    assert keys["erase_my_identity_and"] == "Erase my identity and every link to me"
    assert keys["responsible_for_your_data"].startswith("Responsible for your data")


keyed = st.sampled_from(sorted(preferences.PAGE_KEYS))


@given(keyed, st.text(max_size=60))
def test_a_page_text_keeps_its_messages_placeholders_and_markup(key: str, text: str) -> None:
    message = preferences.PAGE_KEYS[key]
    said = None
    try:
        preferences.check_page_text(key, text)
    except ValueError as refused:
        said = str(refused)
    if said is not None:
        assert said.startswith(f"{key}: ")  # says which message, and what to keep
        return
    assert placeholders(text) == placeholders(message)
    assert tags(text) == tags(message)
    outside = re.sub(r"<[^<>]*>", "", text)
    assert "<" not in outside
    assert ">" not in outside
    # What passes renders: its own words escaped, only the message's markup kept.
    rendered = str(preferences._own_markup(text))
    assert tags(rendered) == tags(message)


@given(keyed, st.text(alphabet="abc <>&%é", max_size=30))
def test_the_message_itself_with_plain_words_around_it_passes(key: str, words: str) -> None:
    message = preferences.PAGE_KEYS[key]
    plain = words.replace("<", "").replace(">", "").replace("%", "%%" if "%(" in message else "")
    assert preferences.check_page_text(key, message + plain) == message + plain


async def test_a_site_words_the_page_its_way_in_one_language(overt: Overt, site: Site) -> None:
    await update_site(
        engine=overt.resources.engine,
        site_id=site.id,
        changes={
            "page_strings": {
                "de": {
                    "don_t_allow": "Nein & tschüss",
                    "your_privacy_choices_for": "Ihre Wahl bei <em>%(domain)s</em>",
                    "responsible_for_your_data": "Verantwortlich: <strong>%(controller)s</strong>",
                    "no_such_message": "ignored",
                }
            }
        },
    )
    german = await overt.client.get(page_url(site), headers={"accept-language": "de"})
    assert german.text.count(">Nein &amp; tschüss</button>") == 3
    assert f"Ihre Wahl bei &lt;em&gt;{site.domain}&lt;/em&gt;" not in german.text  # refused
    assert f"Ihre Datenschutz-Einstellungen für {site.domain}" in german.text  # the catalogue
    assert f"Verantwortlich: <strong>{site.domain}</strong>" in german.text
    assert "Nicht erlauben" not in german.text
    # Other languages keep their catalogues.
    french = await overt.client.get(page_url(site), params={"lang": "fr"})
    assert "Nein" not in french.text
    assert "Vos choix de confidentialité" in french.text
    english = await overt.client.get(page_url(site), headers={"accept-language": "en"})
    assert (
        english.text.count(">Don&#39;t allow</button>")
        + english.text.count(">Don't allow</button>")
        == 3
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_verification_mail_speaks_every_language(lang: str) -> None:
    site = Site(id="s1", domain="example.com", timezone="UTC")
    subject, body = preferences.verification_mail(site, lang, "https://o.test/v?token=t")
    assert "example.com" in subject
    assert "example.com" in body
    assert "\n\nhttps://o.test/v?token=t\n\n" in body
    english = preferences.verification_mail(site, "en", "https://o.test/v?token=t")
    assert (lang == "en") == ((subject, body) == english)
    for message in (preferences.MAIL_SUBJECT, preferences.MAIL_ASK, preferences.MAIL_IGNORE):
        assert message in extracted()  # so `make messages` carries it into every catalogue


async def test_the_verification_mail_speaks_the_pages_language_and_the_sites_words(
    overt: Overt, site: Site
) -> None:
    async with dutch_words_and_a_mailbox(overt, site) as inbox:
        _, csrf = await open_page(overt, site)
        granted = await post(overt, site, "choices", csrf=csrf, grant=IDENTIFICATION)
        assert granted.status_code == 303
        for lang, address in (("nl", "nl@example.org"), ("de", "de@example.org")):
            sent = await post(overt, site, "email", csrf=csrf, email=address, lang=lang)
            assert sent.headers["location"].endswith(f"?done=mail&lang={lang}")
    (dutch,) = inbox.to("nl@example.org")
    assert subject_of(dutch) == f"Bevestig uw adres voor {site.domain}"
    assert text_of(dutch).rstrip().endswith("Niet u? Negeer dit.")
    assert f"Iemand (hopelijk u) heeft {site.domain} gevraagd" in text_of(dutch)
    (german,) = inbox.to("de@example.org")
    assert subject_of(german) == f"Bestätigen Sie Ihre Adresse für {site.domain}"
    assert text_of(german).rstrip().endswith("Ohne den Klick wird nichts verbunden.")


async def test_the_widgets_verification_mail_speaks_the_browsers_language(
    overt: Overt, site: Site
) -> None:
    """The widget posts the address itself (JSON): its mail is in the language the browser
    asks for, with the site's own wording, like the page's."""
    async with dutch_words_and_a_mailbox(overt, site) as inbox:
        for header, address in (("nl-BE,nl;q=0.9", "nl@example.org"), ("xx", "en@example.org")):
            subject = await consenting_subject(overt, site)
            sent = await overt.client.post(
                f"/consent/sites/{site.id}/identity/email",
                json={"email": address},
                headers={"authorization": f"Bearer {subject}", "accept-language": header},
            )
            assert sent.status_code == 202, sent.text
    (dutch,) = inbox.to("nl@example.org")
    assert subject_of(dutch) == f"Bevestig uw adres voor {site.domain}"
    assert text_of(dutch).rstrip().endswith("Niet u? Negeer dit.")
    (english,) = inbox.to("en@example.org")
    assert subject_of(english) == f"Confirm your address for {site.domain}"


@asynccontextmanager
async def dutch_words_and_a_mailbox(overt: Overt, site: Site) -> AsyncIterator[Inbox]:
    """The site's own Dutch closing line, and the mail the app sends caught in an inbox."""
    await update_site(
        engine=overt.resources.engine,
        site_id=site.id,
        changes={"page_strings": {"nl": {"if_it_was_not": "Niet u? Negeer dit."}}},
    )
    with smtp_server() as (inbox, mail):
        overt.app.dependency_overrides[mail_settings] = lambda: mail
        try:
            yield inbox
        finally:
            overt.app.dependency_overrides.pop(mail_settings)


async def consenting_subject(overt: Overt, site: Site) -> str:
    """A new subject with identification consent; its credential."""
    response = await overt.client.post(
        f"/consent/sites/{site.id}/decisions", json={"choices": {IDENTIFICATION: True}}
    )
    assert response.status_code == 201, response.text
    credential: str = response.json()["credential"]
    return credential
