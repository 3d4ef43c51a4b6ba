"""The web app (/app) under test: users with a role on a site, and signing in over HTTP."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.web.accounts.service import create_user, grant_role

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


async def member(engine: AsyncEngine, email: str, site_id: str | None, role: str = "owner") -> int:
    """A user (password PASSWORD) with `role` on the site; returns their id."""
    account = await create_user(engine=engine, email=email, password=PASSWORD)
    if site_id is not None:
        await grant_role(engine=engine, user_id=account.id, site_id=site_id, role=role)
    return account.id


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form token"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, next_page: str = "/app/"
) -> httpx.Response:
    """The sign-in form, filled and sent as a browser would (its cookie, its token)."""
    page = await client.get("/app/login")
    assert page.status_code == 200
    return await client.post(
        "/app/login",
        data={
            "csrf_token": csrf_of(page.text),
            "email": email,
            "password": password,
            "next": next_page,
        },
    )
