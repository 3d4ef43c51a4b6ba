"""The optional second factor: turned on with a code, asked at sign-in, recovery codes once."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.api.web.accounts.totp import code_matches, matching_step, normalise_code
from tests.helpers.overt import Overt, running
from tests.helpers.web import csrf_of, member, sign_in

pytestmark = pytest.mark.anyio


def later_code(key: str) -> str:
    """The code of the next 30-second step: still accepted (a phone's clock drifts), and
    later than the step the second factor was turned on with, so not a replay of it."""
    return pyotp.TOTP(key).at(time.time() + 30)


async def turn_on(overt: Overt) -> tuple[str, list[str]]:
    """Sign in as owner@example.com and turn the second factor on; the key and the codes."""
    await sign_in(overt.client, "owner@example.com")
    page = await overt.client.get("/app/account")
    assert "Off." in page.text
    enrol = await overt.client.post(
        "/app/account/totp/start", data={"csrf_token": csrf_of(page.text)}
    )
    assert '<svg width="' in enrol.text
    assert 'aria-label="QR code"' in enrol.text
    key = re.search(r'<code id="totp-key">([A-Z2-7]{32})</code>', enrol.text)
    assert key is not None
    wrong = await overt.client.post(
        "/app/account/totp/enable", data={"csrf_token": csrf_of(enrol.text), "code": "000000"}
    )
    assert wrong.status_code == 400
    done = await overt.client.post(
        "/app/account/totp/enable",
        data={"csrf_token": csrf_of(enrol.text), "code": pyotp.TOTP(key.group(1)).now()},
    )
    assert done.status_code == 200
    codes = re.findall(r"\b([0-9a-f]{8}-[0-9a-f]{8})\b", done.text)
    assert len(codes) == 10
    return key.group(1), codes


async def test_sign_in_with_a_second_factor(overt: Overt) -> None:
    await member(overt.resources.engine, "owner@example.com", overt.site.id)
    key, codes = await turn_on(overt)
    async with running(overt.app) as browser:
        first = await sign_in(browser, "owner@example.com", next_page="/app/account")
        assert first.status_code == 303
        assert first.headers["location"] == "/app/login/totp?next=/app/account"
        # The password alone opens nothing.
        assert (await browser.get("/app/")).status_code == 303
        step = await browser.get(first.headers["location"])
        assert step.status_code == 200
        assert "Enter your code" in step.text
        token = csrf_of(step.text)
        wrong = await browser.post(
            "/app/login/totp", data={"csrf_token": token, "code": "123456", "next": "/app/account"}
        )
        assert wrong.status_code == 400
        assert "not right" in wrong.text
        right = await browser.post(
            "/app/login/totp",
            data={"csrf_token": token, "code": later_code(key), "next": "/app/account"},
        )
        assert right.status_code == 303
        assert right.headers["location"] == "/app/account"
        assert "On: signing in asks" in (await browser.get("/app/account")).text
    for attempt in (0, 1):  # a recovery code works once
        async with running(overt.app) as browser:
            first = await sign_in(browser, "owner@example.com")
            step = await browser.get(first.headers["location"])
            answer = await browser.post(
                "/app/login/totp",
                data={"csrf_token": csrf_of(step.text), "code": codes[0].upper(), "next": "/app/"},
            )
            assert answer.status_code == (303 if attempt == 0 else 400)


async def test_turning_it_off_needs_a_code(overt: Overt) -> None:
    await member(overt.resources.engine, "owner@example.com", overt.site.id)
    key, _ = await turn_on(overt)
    page = await overt.client.get("/app/account")
    refused = await overt.client.post(
        "/app/account/totp/disable", data={"csrf_token": csrf_of(page.text), "code": "000000"}
    )
    assert refused.status_code == 400
    assert "stays on" in refused.text
    off = await overt.client.post(
        "/app/account/totp/disable",
        data={"csrf_token": csrf_of(page.text), "code": later_code(key)},
    )
    assert off.status_code == 303
    assert "Off." in (await overt.client.get("/app/account")).text


@given(st.text(max_size=64))
def test_any_code_typed_is_checked_without_error(raw: str) -> None:
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    assert code_matches(secret, raw) in (True, False)
    assert normalise_code(raw) == normalise_code(normalise_code(raw))


def test_the_current_code_matches_with_spaces() -> None:
    secret = pyotp.random_base32()
    now = pyotp.TOTP(secret).now()
    assert code_matches(secret, f" {now[:3]} {now[3:]} ")


async def test_a_code_used_once_is_refused_after(overt: Overt) -> None:
    await member(overt.resources.engine, "owner@example.com", overt.site.id)
    key, _ = await turn_on(overt)  # with the current step's code: that one is used
    now = time.time()
    used, earlier = pyotp.TOTP(key).at(now + 30), pyotp.TOTP(key).at(now)
    for code, accepted in ((used, True), (used, False), (earlier, False)):
        async with running(overt.app) as browser:
            first = await sign_in(browser, "owner@example.com")
            step = await browser.get(first.headers["location"])
            answer = await browser.post(
                "/app/login/totp",
                data={"csrf_token": csrf_of(step.text), "code": code, "next": "/app/"},
            )
            assert answer.status_code == (303 if accepted else 400), (code, accepted)
            signed_in = (await browser.get("/app/")).status_code == 200
            assert signed_in is accepted


def test_a_code_names_its_step_within_one_step_of_the_clock() -> None:
    secret = pyotp.random_base32()
    generator = pyotp.TOTP(secret)
    at = datetime(2026, 12, 7, 12, 0, 10, tzinfo=UTC)
    step = generator.timecode(at)
    for offset in (-1, 0, 1):
        code = generator.at(at + timedelta(seconds=30 * offset))
        assert matching_step(secret, code, at=at) == step + offset
    assert matching_step(secret, generator.at(at + timedelta(seconds=60)), at=at) is None
    assert matching_step(secret, generator.at(at - timedelta(seconds=60)), at=at) is None
