"""The widget's words: one file per language, every one complete, served like every asset;
/purposes names the controller, links the policy and adds the site's own wording for the
language asked (English for a language the widget does not speak)."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.consent.assets import STATIC, WIDGET_STRINGS
from services.consent.languages import LANGUAGES, spoken_language
from shared.sites import Site, update_site
from tests.helpers.overt import Overt
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

ENGLISH = json.loads(WIDGET_STRINGS["en"].body)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_has_every_word(lang: str) -> None:
    words = json.loads(WIDGET_STRINGS[lang].body)
    assert words.keys() == ENGLISH.keys()
    for key, text in words.items():
        assert text.strip(), f"{lang}.{key} is empty"
        # A word that runs into what follows (a label before the controller's name) keeps
        # its trailing space in every language.
        assert text.endswith(" ") == ENGLISH[key].endswith(" "), f"{lang}.{key}"
    if lang != "en":
        same = [key for key in words if words[key] == ENGLISH[key]]
        assert same == [], f"{lang} leaves {same} in English"


def test_the_widget_asks_for_exactly_the_languages_there_are() -> None:
    source = (STATIC / "widget.js").read_text()
    match = re.search(r"/\^\(([a-z|]+)\)\$/\.test\(lang\)", source)
    assert match, "the widget checks the page's language against a list"
    assert sorted(match.group(1).split("|")) == sorted(set(LANGUAGES) - {"en"})


@given(st.text(max_size=40))
def test_any_tag_picks_a_spoken_language(tag: str) -> None:
    assert spoken_language(tag) in LANGUAGES


@given(st.sampled_from(LANGUAGES), st.from_regex(r"([-_][A-Za-z0-9]{1,8}){0,3}", fullmatch=True))
def test_a_region_or_script_keeps_the_language(lang: str, rest: str) -> None:
    assert spoken_language(lang.upper() + rest) == lang


async def test_words_are_served_compressed_and_cached(overt: Overt) -> None:
    client = overt.client
    for lang in LANGUAGES:
        plain = await client.get(f"/consent/i18n/{lang}.json")
        assert plain.status_code == 200
        assert plain.headers["content-type"].startswith("application/json")
        assert plain.headers["access-control-allow-origin"] == "*"
        assert plain.headers["cache-control"] == "public, max-age=3600"
        assert plain.json() == json.loads(WIDGET_STRINGS[lang].body)
        etag = plain.headers["etag"]
        again = await client.get(f"/consent/i18n/{lang}.json", headers={"if-none-match": etag})
        assert again.status_code == 304
    request = client.build_request(
        "GET", "/consent/i18n/de.json", headers={"accept-encoding": "gzip"}
    )
    squeezed = await client.send(request, stream=True)
    wire = b"".join([chunk async for chunk in squeezed.aiter_raw()])
    assert squeezed.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(wire))["accept"] == "Alle akzeptieren"
    missing = await client.get("/consent/i18n/xx.json")
    assert_problem(missing, 404, "unknown-language")


async def test_purposes_name_the_controller_and_carry_the_sites_words(
    overt: Overt, site: Site
) -> None:
    url = f"/consent/sites/{site.id}/purposes"
    plain = (await overt.client.get(url)).json()
    assert (plain["controller"], plain["privacy_url"]) == (site.domain, None)
    assert (plain["lang"], plain["strings"]) == ("en", {})
    await update_site(
        engine=overt.resources.engine,
        site_id=site.id,
        changes={
            "controller": "Example Shop GmbH",
            "privacy_url": "https://example.com/datenschutz",
            "widget_strings": {"de": {"title": "Ihre Wahl bei Example"}},
        },
    )
    german = (await overt.client.get(url, params={"lang": "de-AT"})).json()
    assert german["controller"] == "Example Shop GmbH"
    assert german["privacy_url"] == "https://example.com/datenschutz"
    assert (german["lang"], german["strings"]) == ("de", {"title": "Ihre Wahl bei Example"})
    # A language the widget does not speak gets English, without the German wording.
    other = (await overt.client.get(url, params={"lang": "pt-BR"})).json()
    assert (other["lang"], other["strings"]) == ("en", {})
    too_long = await overt.client.get(url, params={"lang": "x" * 36})
    assert_problem(too_long, 422, "validation-error")
