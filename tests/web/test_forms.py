"""The sign-in form's parser, on any input a browser (or anyone) could send."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.api.web.accounts.schemas import HOME, LoginForm, check_email, local_page

anything = st.text(max_size=3000)


@given(anything)
def test_after_sign_in_the_browser_stays_in_the_app(raw: str) -> None:
    target = local_page(raw)
    assert target in (HOME, raw)
    assert target.startswith("/app/")
    assert not target.startswith("//")
    assert "\\" not in target
    assert all(ord(char) > 0x20 and ord(char) != 0x7F for char in target)


@given(st.dictionaries(st.sampled_from(["email", "password", "next", "csrf_token", "x"]), anything))
def test_the_login_form_parses_or_refuses_cleanly(fields: dict[str, str]) -> None:
    try:
        form = LoginForm.model_validate(fields)
    except ValidationError:
        return
    assert form.email == form.email.strip().lower()
    assert "@" in form.email
    assert 1 <= len(form.password) <= 1024
    assert form.next.startswith("/app/")


@given(st.emails())
def test_every_real_address_is_taken_lower_cased(address: str) -> None:
    try:
        parsed = check_email(address)
    except ValueError:
        # Only what the 64/253 bounds leave out, or a domain without a dot, is refused.
        local, domain = address.rsplit("@", 1)
        assert len(local) > 64 or len(domain) > 253 or "." not in domain.strip(".")
        return
    assert parsed == address.strip().lower()


@pytest.mark.parametrize("raw", ["", "a", "@", "a@", "@b.c", "a b@c.d", "a@b", "a@@b.c"])
def test_what_is_not_an_address_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="not an e-mail address"):
        check_email(raw)
