"""The controller's name and privacy-policy link a site sets: what is stored is what visitors
can safely be shown (properties over any input, then the edges by name)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.sites import (
    CONTROLLER_MAX,
    PRIVACY_URL_MAX,
    SiteSettings,
    check_controller,
    check_privacy_url,
)

HIDDEN = "\x00\x1b\x7f\u200b\u200e\u202e\u2066\ufeff"
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
hosts = st.lists(labels, min_size=1, max_size=4).map(".".join)
paths = st.from_regex(r"(/[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,30}){0,4}", fullmatch=True)


@given(st.text(max_size=300))
def test_any_name_is_refused_or_stored_trimmed_and_visible(raw: str) -> None:
    try:
        name = check_controller(raw)
    except ValueError:
        return
    assert 1 <= len(name) <= CONTROLLER_MAX
    assert name == name.strip()
    assert "  " not in name
    assert not any(ch in name for ch in HIDDEN)
    assert check_controller(name) == name


@given(st.text(min_size=1, max_size=40).filter(lambda t: t.strip()), st.sampled_from(HIDDEN))
def test_a_name_hiding_characters_is_refused(name: str, hidden: str) -> None:
    with pytest.raises(ValueError, match=r"invisible|1 to"):
        check_controller(name[:1] + hidden + name[1:] + "x")


@given(st.text(max_size=600))
def test_any_url_is_refused_or_an_https_link_with_a_host(raw: str) -> None:
    try:
        url = check_privacy_url(raw)
    except ValueError:
        return
    assert url == raw
    assert len(url) <= PRIVACY_URL_MAX
    assert url.startswith("https://")
    assert url.isascii()
    assert url.isprintable()
    assert " " not in url
    parts = urlsplit(url)
    assert parts.hostname
    assert "@" not in parts.netloc


@given(hosts, paths, st.sampled_from(["", "#section"]))
def test_an_https_url_with_a_host_is_kept_as_given(host: str, path: str, fragment: str) -> None:
    url = f"https://{host}{path}{fragment}"
    if len(url) <= PRIVACY_URL_MAX:
        assert SiteSettings(privacy_url=url).privacy_url == url


@given(hosts, paths, st.sampled_from(["http", "ftp", "javascript", "data", "HTTPS:"]))
def test_every_other_scheme_is_refused(host: str, path: str, scheme: str) -> None:
    with pytest.raises(ValidationError, match="https"):
        SiteSettings(privacy_url=f"{scheme}://{host}{path}")


@pytest.mark.parametrize(
    "url",
    [
        "https://",
        "https:///privacy",
        "https://user@example.com/privacy",
        "https://example.com:99999/privacy",
        "https://[::1/privacy",
        "https://example.com/priv acy",
        "https://exämple.com/privacy",
        "https://example.com/" + "p" * PRIVACY_URL_MAX,
        "javascript:alert(1)//https://example.com",
    ],
)
def test_unusable_links_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        SiteSettings(privacy_url=url)


def test_the_longest_name_and_link_are_taken_and_one_more_is_not() -> None:
    longest = "https://example.com/" + "p" * (PRIVACY_URL_MAX - len("https://example.com/"))
    assert SiteSettings(controller="C" * CONTROLLER_MAX, privacy_url=longest).privacy_url == longest
    with pytest.raises(ValidationError, match="1 to 120"):
        SiteSettings(controller="C" * (CONTROLLER_MAX + 1))
    with pytest.raises(ValidationError, match="at most 512"):
        SiteSettings(privacy_url=longest + "p")
