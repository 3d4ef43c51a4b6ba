"""The first run over HTTP: the one-time link, the owner, the first site, the first visit."""

from __future__ import annotations

import re

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape
from pydantic import ValidationError

from services.api.web.accounts.schemas import check_link_token
from services.api.web.accounts.service import count_users, issue_setup_token
from services.api.web.setup.schemas import OwnerForm, SiteForm, check_zone
from shared.sites import list_sites, script_tag
from tests.helpers.overt import Overt
from tests.helpers.web import PASSWORD, csrf_of, member

pytestmark = pytest.mark.anyio


async def create_owner(
    overt: Overt, token: str, email: str = "owner@example.com"
) -> httpx.Response:
    page = await overt.client.get("/app/login")  # a page with this browser's form token
    return await overt.client.post(
        "/app/setup",
        data={
            "csrf_token": csrf_of(page.text),
            "token": token,
            "email": email,
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )


async def test_the_first_run_from_the_link_to_the_first_visit(overt: Overt) -> None:
    engine = overt.resources.engine
    first = await issue_setup_token(engine=engine)
    token = await issue_setup_token(engine=engine)  # a restart: only the last link opens
    assert first is not None
    assert token is not None
    assert (await overt.client.get(f"/app/setup?token={first}")).status_code == 404
    page = await overt.client.get(f"/app/setup?token={token}")
    assert page.status_code == 200
    assert "Create the owner account" in page.text

    mismatch = await overt.client.post(
        "/app/setup",
        data={
            "csrf_token": csrf_of(page.text),
            "token": token,
            "email": "owner@example.com",
            "password": PASSWORD,
            "password_again": PASSWORD + "!",
        },
    )
    assert mismatch.status_code == 400
    assert "The two passwords differ." in mismatch.text
    made = await create_owner(overt, token)
    assert made.status_code == 303
    assert made.headers["location"] == "/app/sites/new"
    assert await count_users(engine=engine) == 1
    # The link is used up, and no new one is made while a user exists.
    assert (await overt.client.get(f"/app/setup?token={token}")).status_code == 404
    assert await issue_setup_token(engine=engine) is None

    form = await overt.client.get("/app/sites/new")
    assert form.status_code == 200  # signed in by the setup
    taken = await overt.client.post(
        "/app/sites/new",
        data={"csrf_token": csrf_of(form.text), "domain": "example.com", "timezone": "UTC"},
    )
    assert taken.status_code == 400
    assert "registered already" in taken.text
    added = await overt.client.post(
        "/app/sites/new",
        data={
            "csrf_token": csrf_of(form.text),
            "domain": "https://www.Shop.example/",
            "timezone": "Europe/Berlin",
        },
    )
    assert added.status_code == 303
    site_id = re.fullmatch(r"/app/sites/([0-9a-f]+)/setup", added.headers["location"])
    assert site_id is not None
    site = next(s for s in await list_sites(engine=engine) if s.id == site_id.group(1))
    assert (site.domain, site.timezone) == ("shop.example", "Europe/Berlin")

    waiting = await overt.client.get(added.headers["location"])
    tag = script_tag(overt.resources.settings.base_url, site)
    assert tag.startswith(f'<script defer src="{overt.resources.settings.base_url}/overt.js"')
    assert str(escape(tag)) in waiting.text
    assert "Waiting for your first visit" in waiting.text
    assert 'hx-trigger="every 2s"' in waiting.text
    status_url = f"/app/sites/{site.id}/setup/status"
    still = await overt.client.get(status_url)
    assert "Waiting for your first visit" in still.text

    sent = await overt.send(
        overt.event(s=site.id, u="https://shop.example/"), origin="https://shop.example"
    )
    assert sent.status_code == 202
    await overt.drained()
    received = await overt.client.get(status_url)
    assert "Your first visit was received." in received.text
    assert "hx-trigger" not in received.text  # the polling stops
    assert f'href="/app/sites/{site.id}"' in received.text


async def test_the_setup_link_does_not_open_once_a_user_exists(overt: Overt) -> None:
    token = await issue_setup_token(engine=overt.resources.engine)
    assert token is not None
    await member(overt.resources.engine, "someone@example.com", overt.site.id)
    assert (await overt.client.get(f"/app/setup?token={token}")).status_code == 404
    refused = await create_owner(overt, token, email="intruder@example.com")
    assert refused.status_code == 404
    assert await count_users(engine=overt.resources.engine) == 1
    for bad in ("", "x" * 43, "x" * 500):
        assert (await overt.client.get(f"/app/setup?token={bad}")).status_code == 404


async def test_adding_a_site_needs_a_signed_in_user(overt: Overt) -> None:
    answer = await overt.client.get("/app/sites/new")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/login?next=/app/sites/new"


tokens = st.text(alphabet=st.characters(codec="utf-8"), max_size=80)


@given(tokens)
def test_a_setup_token_is_43_url_safe_characters_or_refused(raw: str) -> None:
    try:
        assert check_link_token(raw) == raw
    except ValueError:
        assert len(raw) != 43 or not re.fullmatch(r"[A-Za-z0-9_-]*", raw, re.ASCII)
    else:
        assert len(raw) == 43


@given(st.dictionaries(st.sampled_from(["token", "email", "password", "password_again"]), tokens))
def test_the_owner_form_parses_or_refuses_cleanly(fields: dict[str, str]) -> None:
    try:
        form = OwnerForm.model_validate(fields)
    except ValidationError:
        return
    assert form.password == form.password_again
    assert len(form.password) >= 10


@given(st.text(max_size=100), st.text(max_size=80))
def test_the_site_form_parses_or_refuses_cleanly(domain: str, zone: str) -> None:
    try:
        form = SiteForm.model_validate({"domain": domain, "timezone": zone})
    except ValidationError:
        return
    assert form.domain == form.domain.strip().lower()
    assert "/" not in form.domain
    assert check_zone(form.timezone) == form.timezone
