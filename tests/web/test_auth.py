"""The web app's skeleton: sign-in, sessions, CSRF, roles, the CSP and the static files."""

from __future__ import annotations

import gzip
import re

import pytest
from fastapi import Depends, Request

from services.api.web.assets import ASSETS, static_url
from services.api.web.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Role,
    SiteAccess,
    page_router,
    render,
    site_access,
)
from shared.settings import Settings
from shared.sites import create_site
from tests.helpers.overt import Overt, overt_with, running
from tests.helpers.web import PASSWORD, csrf_of, member, sign_in

pytestmark = pytest.mark.anyio


async def test_root_goes_to_the_app_and_the_app_asks_to_sign_in(overt: Overt) -> None:
    root = await overt.client.get("/")
    assert root.status_code == 303
    assert root.headers["location"] == "/app/"
    home = await overt.client.get("/app/")
    assert home.status_code == 303
    assert home.headers["location"] == "/app/login?next=/app/"


async def test_the_login_page_runs_only_scripts_with_its_nonce(overt: Overt) -> None:
    page = await overt.client.get("/app/login")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]+)'", policy)
    assert nonce is not None
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert len(scripts) >= 2
    for attributes, body in scripts:
        assert f'nonce="{nonce.group(1)}"' in attributes
        assert 'src="/app/static/' in attributes
        assert body.strip() == ""  # no inline script
    assert re.search(r"\son[a-z]+=", page.text) is None  # no inline event handler
    again = await overt.client.get("/app/login")
    assert again.headers["content-security-policy"] != policy  # a nonce per response


async def test_signing_in_opens_a_session_and_signing_out_ends_it(overt: Overt) -> None:
    await member(overt.resources.engine, "Owner@Example.com", overt.site.id)
    answer = await sign_in(overt.client, "owner@example.com", next_page="/app/")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/"
    cookie = next(
        value
        for name, value in answer.headers.multi_items()
        if name == "set-cookie" and value.startswith(SESSION_COOKIE + "=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # the public URL is http here
    home = await overt.client.get("/app/")
    assert home.status_code == 200
    assert "example.com" in home.text
    assert "owner@example.com" in home.text
    out = await overt.client.post("/app/logout", data={"csrf_token": csrf_of(home.text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/app/login"
    overt.client.cookies.set(SESSION_COOKIE, cookie.split(";")[0].split("=", 1)[1])
    assert (await overt.client.get("/app/")).status_code == 303  # the session is gone


async def test_a_wrong_password_and_an_unknown_address_read_the_same(overt: Overt) -> None:
    await member(overt.resources.engine, "owner@example.com", overt.site.id)
    wrong = await sign_in(overt.client, "owner@example.com", password="not the password")
    unknown = await sign_in(overt.client, "nobody@example.com")
    for answer in (wrong, unknown):
        assert answer.status_code == 400
        assert "That e-mail address and password do not match." in answer.text
        assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert (await overt.client.get("/app/")).status_code == 303


async def test_a_form_without_its_token_is_refused(overt: Overt) -> None:
    await member(overt.resources.engine, "owner@example.com", overt.site.id)
    await overt.client.get("/app/login")  # the browser has its CSRF cookie
    for token in (None, "0" * 64):
        data = {"email": "owner@example.com", "password": PASSWORD}
        if token is not None:
            data["csrf_token"] = token
        refused = await overt.client.post("/app/login", data=data)
        assert refused.status_code == 403
        assert "security token" in refused.text
        problem = await overt.client.post(
            "/app/login", data=data, headers={"accept": "application/json"}
        )
        assert problem.headers["content-type"] == "application/problem+json"
    # Another browser's token does not do either.
    page = await overt.client.get("/app/login")
    token = csrf_of(page.text)
    overt.client.cookies.set(CSRF_COOKIE, "someone-else")
    refused = await overt.client.post(
        "/app/login",
        data={"email": "owner@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert refused.status_code == 403


async def test_sign_in_goes_back_only_to_a_page_of_the_app(overt: Overt) -> None:
    await member(overt.resources.engine, "owner@example.com", overt.site.id)
    for asked, landed in (
        ("https://evil.example/", "/app/"),
        ("//evil.example/app/", "/app/"),
        ("/app/sites/x?period=7d", "/app/sites/x?period=7d"),
    ):
        answer = await sign_in(overt.client, "owner@example.com", next_page=asked)
        assert answer.headers["location"] == landed


async def test_sign_in_attempts_are_limited_per_account(settings: Settings) -> None:
    async with overt_with(settings, login_account_rate_limit=3) as limited:
        await member(limited.resources.engine, "owner@example.com", limited.site.id)
        for _ in range(3):
            assert (await sign_in(limited.client, "owner@example.com", "wrong")).status_code == 400
        refused = await sign_in(limited.client, "owner@example.com")  # even the right one
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "Too many attempts" in refused.text
        # Another account from the same client is not affected.
        await member(limited.resources.engine, "other@example.com", limited.site.id)
        assert (await sign_in(limited.client, "other@example.com")).status_code == 303


async def test_sign_in_attempts_are_limited_per_client(settings: Settings) -> None:
    async with overt_with(settings, login_client_rate_limit=2) as limited:
        await member(limited.resources.engine, "owner@example.com", limited.site.id)
        for address in ("a@example.com", "b@example.com"):
            assert (await sign_in(limited.client, address)).status_code == 400
        assert (await sign_in(limited.client, "owner@example.com")).status_code == 429


async def test_a_role_below_the_minimum_is_told_the_role_it_needs(overt: Overt) -> None:
    router = page_router()

    @router.get("/app/sites/{site_id}/test-admin")
    async def admin_page(
        request: Request,
        access: SiteAccess = Depends(site_access(Role.admin)),  # noqa: B008
    ) -> object:
        return render(request, "error.html", {"status": 200, "title": access.role, "detail": ""})

    overt.app.include_router(router)
    # Ahead of the app's last route, the answer for any other /app/ path.
    overt.app.router.routes.insert(0, overt.app.router.routes.pop())
    other = await create_site(engine=overt.resources.engine, domain="other.example")
    await member(overt.resources.engine, "viewer@example.com", overt.site.id, role="viewer")
    await member(overt.resources.engine, "admin@example.com", overt.site.id, role="admin")
    async with running(overt.app) as client:
        assert (await client.get(f"/app/sites/{overt.site.id}/test-admin")).status_code == 303
        await sign_in(client, "viewer@example.com")
        refused = await client.get(
            f"/app/sites/{overt.site.id}/test-admin", headers={"Accept": "text/html"}
        )
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")
        assert "This page needs the admin role" in refused.text
        assert "You are a viewer of this site" in refused.text
        as_json = await client.get(
            f"/app/sites/{overt.site.id}/test-admin", headers={"Accept": "application/json"}
        )
        assert as_json.status_code == 403
        assert as_json.json()["type"].endswith("/role-required")
    async with running(overt.app) as client:
        await sign_in(client, "admin@example.com")
        allowed = await client.get(f"/app/sites/{overt.site.id}/test-admin")
        assert allowed.status_code == 200
        assert "admin" in allowed.text
        elsewhere = await client.get(f"/app/sites/{other.id}/test-admin")
        assert elsewhere.status_code == 404  # a site without a role reads as no site


async def test_static_files_are_versioned_compressed_and_cached(overt: Overt) -> None:
    for name in ("vendor/htmx/htmx.min.js", "vendor/uplot/uPlot.iife.min.js", "app.css"):
        url = static_url(name)
        answer = await overt.client.get(url, headers={"accept-encoding": "gzip"})
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["content-encoding"] == "gzip"
        assert answer.content == ASSETS[name].body  # httpx decoded the gzip
        again = await overt.client.get(url, headers={"if-none-match": answer.headers["etag"]})
        assert again.status_code == 304
    assert (await overt.client.get("/app/static/nothing.js")).status_code == 404


def test_the_javascript_every_page_loads_is_within_its_budget() -> None:
    loaded = ("vendor/htmx/htmx.min.js", "app.js", "vendor/uplot/uPlot.iife.min.js")
    total = sum(len(gzip.compress(ASSETS[name].body, compresslevel=9)) for name in loaded)
    print(f"JavaScript of base.html + uPlot, gzip -9: {total} B of a 60 KiB budget")
    assert total <= 60 * 1024


async def test_signing_in_again_ends_the_session_held_before(overt: Overt) -> None:
    await member(overt.resources.engine, "owner@example.com", overt.site.id)
    await sign_in(overt.client, "owner@example.com")
    before = overt.client.cookies.get(SESSION_COOKIE)
    assert before is not None
    await sign_in(overt.client, "owner@example.com")
    after = overt.client.cookies.get(SESSION_COOKIE)
    assert after is not None
    assert after != before
    assert (await overt.client.get("/app/")).status_code == 200
    overt.client.cookies.set(SESSION_COOKIE, before)
    assert (await overt.client.get("/app/")).status_code == 303
