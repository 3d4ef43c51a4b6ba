"""The signed-in user's own account, over HTTP on both backends: changing the password
(current one asked, CSRF, rate limited, every other session ended); what an unknown page
or a page above one's role answers; and the cookies of a shared link, which must work in
another site's iframe while /app's stay SameSite=Lax."""

from __future__ import annotations

import httpx
import pytest

from services.api.web.accounts.service import set_password
from services.api.web.auth import CSRF_COOKIE, SESSION_COOKIE, SHARE_CSRF_COOKIE
from services.api.web.dashboard.router import share_cookie
from services.api.web.dashboard.shares import create_share
from shared.settings import Settings
from tests.helpers.overt import Overt, overt_with, running
from tests.helpers.web import PASSWORD, csrf_of, member, sign_in

pytestmark = pytest.mark.anyio
NEW_PASSWORD = "a new and longer passphrase"
HTML = {"Accept": "text/html,application/xhtml+xml"}
SECRET = "the agency's passphrase"


async def change(
    client: httpx.AsyncClient, current: str, new: str, again: str | None = None
) -> httpx.Response:
    page = await client.get("/app/account")
    assert page.status_code == 200
    return await client.post(
        "/app/account/password",
        data={
            "csrf_token": csrf_of(page.text),
            "current_password": current,
            "new_password": new,
            "new_password_again": new if again is None else again,
        },
    )


async def test_changing_the_password_ends_every_other_session(overt: Overt) -> None:
    await member(overt.resources.engine, "owner@example.com", overt.site.id)
    await sign_in(overt.client, "owner@example.com")
    async with running(overt.app) as elsewhere:
        assert (await sign_in(elsewhere, "owner@example.com")).status_code == 303
        assert (await elsewhere.get("/app/")).status_code == 200

        wrong = await change(overt.client, "not my password", NEW_PASSWORD)
        assert wrong.status_code == 400
        assert "The current password is not right." in wrong.text
        differ = await change(overt.client, PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!")
        assert differ.status_code == 400
        assert "The two new passwords differ." in differ.text
        short = await change(overt.client, PASSWORD, "short")
        assert short.status_code == 400
        assert "at least 10 characters" in short.text
        forged = await overt.client.post(
            "/app/account/password",
            data={
                "current_password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
            },
        )
        assert forged.status_code == 403
        # Nothing refused has ended a session.
        assert (await elsewhere.get("/app/")).status_code == 200

        changed = await change(overt.client, PASSWORD, NEW_PASSWORD)
        assert changed.status_code == 200
        assert "Password changed." in changed.text
        # This browser stays signed in; the other one is sent to sign in again.
        assert (await overt.client.get("/app/")).status_code == 200
        ended = await elsewhere.get("/app/")
        assert ended.status_code == 303
        assert ended.headers["location"].startswith("/app/login")
        assert (await sign_in(elsewhere, "owner@example.com", PASSWORD)).status_code == 400
        assert (await sign_in(elsewhere, "owner@example.com", NEW_PASSWORD)).status_code == 303
    # The operator's reset still sets a password over the user's own.
    await set_password(
        engine=overt.resources.engine, email="owner@example.com", password="an operator's reset"
    )
    assert (await overt.client.get("/app/")).status_code == 303
    assert (
        await sign_in(overt.client, "owner@example.com", "an operator's reset")
    ).status_code == 303


async def test_password_changes_count_as_sign_in_attempts(settings: Settings) -> None:
    async with overt_with(settings, login_account_rate_limit=3) as limited:
        await member(limited.resources.engine, "owner@example.com", limited.site.id)
        assert (await sign_in(limited.client, "owner@example.com")).status_code == 303
        for _ in range(2):
            assert (await change(limited.client, "a guess", NEW_PASSWORD)).status_code == 400
        refused = await change(limited.client, PASSWORD, NEW_PASSWORD)  # even the right one
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "Too many attempts" in refused.text


async def test_an_unknown_page_is_a_page_for_a_browser_and_a_problem_otherwise(
    overt: Overt,
) -> None:
    await member(overt.resources.engine, "owner@example.com", overt.site.id)
    signed_out = await overt.client.get("/app/no/such/page", headers=HTML)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/app/login?next=/app/no/such/page"
    await sign_in(overt.client, "owner@example.com")
    for path in (
        "/app/no/such/page",
        f"/app/sites/{overt.site.id}/no-such-tab",
        "/share/no-such-link/panels",
        "/share/x",
    ):
        page = await overt.client.get(path, headers=HTML)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html"), path
        assert "There is no such page." in page.text
        assert 'href="/app/static/' in page.text  # in the app's layout, with its styles
        problem = await overt.client.get(path, headers={"Accept": "application/json"})
        assert problem.status_code == 404, path
        assert problem.headers["content-type"] == "application/problem+json"
        assert problem.json()["type"].endswith("/not-found")
        plain = await overt.client.get(path)  # no Accept of a browser
        assert plain.headers["content-type"] == "application/problem+json"
    # Another method on an unknown path is the API's plain answer, never a page.
    posted = await overt.client.post("/app/no/such/page", headers=HTML)
    assert posted.headers["content-type"] == "application/problem+json"


def attributes(response: httpx.Response, name: str) -> dict[str, str]:
    """The attributes of the response's Set-Cookie for `name` (names lower-cased, a flag
    as "true")."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(name + "="):
            parts = (part.strip().partition("=") for part in header.split(";")[1:])
            return {key.lower(): (value.lower() or "true") for key, _, value in parts}
    raise AssertionError(f"no Set-Cookie {name}")


async def unlock_a_share(overt: Overt, client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    """Open a password-protected link and give its password, as a browser would; the
    attributes of the two cookies this sets (the link's CSRF cookie, its password's)."""
    share, token = await create_share(
        engine=overt.resources.engine, site_id=overt.site.id, label="agency", password=SECRET
    )
    locked = await client.get(f"/share/{token}")
    assert locked.status_code == 401
    unlocked = await client.post(
        f"/share/{token}", data={"csrf_token": csrf_of(locked.text), "password": SECRET}
    )
    assert unlocked.status_code == 303
    opened = await client.get(f"/share/{token}")
    assert opened.status_code == 200
    assert 'data-metric="visitors"' in opened.text  # the dashboard, not the password page
    return {
        "csrf": attributes(locked, SHARE_CSRF_COOKIE),
        "password": attributes(unlocked, share_cookie(share.id)),
    }


async def test_over_https_a_shared_link_s_cookies_are_for_an_iframe_and_app_s_are_not(
    overt: Overt,
) -> None:
    await member(overt.resources.engine, "owner@example.com", overt.site.id)
    async with running(overt.app, base_url="https://overt.test") as client:
        for cookie in (await unlock_a_share(overt, client)).values():
            assert cookie["samesite"] == "none"
            assert cookie["secure"] == "true"
            assert cookie["partitioned"] == "true"
            assert cookie["httponly"] == "true"
            assert cookie["path"] == "/share/"
        login = await client.get("/app/login")
        signed_in = await sign_in(client, "owner@example.com")
        for cookie in (attributes(login, CSRF_COOKIE), attributes(signed_in, SESSION_COOKIE)):
            assert cookie["samesite"] == "lax"
            assert cookie["secure"] == "true"
            assert "partitioned" not in cookie


async def test_over_plain_http_a_shared_link_s_cookies_stay_lax(overt: Overt) -> None:
    # A browser drops a SameSite=None cookie that is not Secure: the link then works opened
    # on its own, not embedded.
    for cookie in (await unlock_a_share(overt, overt.client)).values():
        assert cookie["samesite"] == "lax"
        assert "secure" not in cookie
        assert "partitioned" not in cookie
        assert cookie["path"] == "/share/"
