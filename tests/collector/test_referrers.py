"""The referrer list: Ghost's maintained list, vendored at a pinned version with its sums
(`make referrers`), and the lookup over it: every listed host (and its subdomains, with or
without `www.`) gives the list's source and medium; anything else is a plain referral."""

from __future__ import annotations

import hashlib

import orjson
from hypothesis import given
from hypothesis import strategies as st

from services.collector.enrich import Referral, classify_referrer
from services.collector.referrers import LIST, MEDIA, OWN, known_referrer

VENDORED = LIST.parent
LISTED: dict[str, dict[str, str]] = orjson.loads(LIST.read_bytes())
# A referrer's host has a domain: the list's few one-label keys ("bsky", "buffer") name apps,
# and no https referrer carries them (`make test` drew none of them; 4x its examples did).
HOSTS = sorted(
    key for key in LISTED if "/" not in key and "." in key and key.removeprefix("www.") not in OWN
)
MEDIUMS = {"search", "social", "email", "paid", "referral", "ai"}


def test_the_vendored_list_matches_its_pinned_sums() -> None:
    assert (VENDORED / "VERSION").read_text().strip() == "0.1.23"
    for line in (VENDORED / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == digest, name
    assert len(LISTED) > 2000


@given(
    st.sampled_from(HOSTS),
    st.sampled_from(["", "www.", "m.", "news.eu."]),
    st.text("abcdefghij/-_.0123456789", max_size=30),
)
def test_a_listed_host_gives_the_lists_source_and_medium(host: str, prefix: str, path: str) -> None:
    bare = host.removeprefix("www.")
    entry = LISTED.get(host) or LISTED[f"www.{bare}"]
    referrer = f"https://{prefix}{bare}/{path}"
    referral = classify_referrer(referrer, "example.org")
    assert isinstance(referral, Referral)
    if prefix in ("", "www."):  # a subdomain may be listed with a source of its own
        own = LISTED.get(bare) or LISTED.get(f"www.{bare}") or entry
        with_path = known_referrer(bare.lower(), "/" + path)  # hosts arrive lower-cased
        assert with_path is not None
        if not any(key.startswith(f"{bare}/") for key in LISTED):
            assert referral.source == own["source"][:200]
            assert referral.medium == MEDIA.get(own["medium"], "referral")
    assert referral.medium in MEDIUMS


@given(st.from_regex(r"[a-z]{3,12}\.(invalid|example|test)", fullmatch=True))
def test_an_unlisted_host_is_a_referral_named_by_its_host(host: str) -> None:
    referral = classify_referrer(f"https://{host}/post", "example.org")
    assert referral == Referral(url=f"https://{host}/post", source=host, medium="referral")


def test_known_sources_and_overts_own_hosts() -> None:
    cases = {
        "https://www.google.com/": ("Google", "search"),
        "https://www.google.de/search": ("Google", "search"),
        "https://mail.google.com/mail/u/0/": ("Gmail", "email"),
        "https://l.facebook.com/l.php": ("Facebook", "social"),
        "https://news.ycombinator.com/item": ("Hacker News", "social"),
        "https://www.bing.com/images/search": ("Bing Images", "search"),
        "https://chatgpt.com/": ("ChatGPT", "ai"),
        "https://www.threads.net/@someone": ("Threads", "social"),
    }
    for referrer, (source, medium) in cases.items():
        referral = classify_referrer(referrer, "example.org")
        assert isinstance(referral, Referral)
        assert (referral.source, referral.medium) == (source, medium), referrer
