"""The team and API-key pages: who may do what, invitations by link, keys shown once."""

from __future__ import annotations

import re

import pytest

from services.api.web.auth import Role
from services.api.web.team.rules import change_refused, grantable
from shared.keys import authenticate_key
from tests.helpers.overt import Overt, running
from tests.helpers.web import PASSWORD, csrf_of, member, sign_in

pytestmark = pytest.mark.anyio


async def test_a_viewer_reaches_neither_team_nor_keys(overt: Overt) -> None:
    await member(overt.resources.engine, "viewer@example.com", overt.site.id, role="viewer")
    await sign_in(overt.client, "viewer@example.com")
    home = await overt.client.get("/app/")
    for page in ("team", "keys"):
        url = f"/app/sites/{overt.site.id}/settings/{page}"
        assert (await overt.client.get(url)).status_code == 403
        posted = await overt.client.post(
            url + ("/invitations" if page == "team" else ""),
            data={"csrf_token": csrf_of(home.text), "role": "viewer", "scope": "stats:read"},
        )
        assert posted.status_code == 403


async def test_invite_by_link_then_join_with_a_new_account(overt: Overt) -> None:
    await member(overt.resources.engine, "owner@example.com", overt.site.id)
    await sign_in(overt.client, "owner@example.com")
    team_url = f"/app/sites/{overt.site.id}/settings/team"
    page = await overt.client.get(team_url)
    assert page.status_code == 200
    assert "owner@example.com" in page.text
    made = await overt.client.post(
        team_url + "/invitations", data={"csrf_token": csrf_of(page.text), "role": "admin"}
    )
    link = re.search(r"http://\S+/app/invitations/([A-Za-z0-9_-]{43})", made.text)
    assert link is not None
    token = link.group(1)
    again = await overt.client.get(team_url)
    assert token not in again.text
    assert "admin" in again.text

    async with running(overt.app) as newcomer:  # another browser
        offer = await newcomer.get(f"/app/invitations/{token}")
        assert offer.status_code == 200
        assert "invited as <strong>admin</strong>" in offer.text
        joined = await newcomer.post(
            f"/app/invitations/{token}/signup",
            data={
                "csrf_token": csrf_of(offer.text),
                "email": "new@example.com",
                "password": PASSWORD,
                "password_again": PASSWORD,
            },
        )
        assert joined.status_code == 303
        assert joined.headers["location"] == f"/app/sites/{overt.site.id}"
        assert (await newcomer.get(team_url)).status_code == 200  # an admin now
        # One use only.
        assert (await newcomer.get(f"/app/invitations/{token}")).status_code == 404
    listed = await overt.client.get(team_url)
    assert "new@example.com" in listed.text


async def test_roles_change_within_the_rules(overt: Overt) -> None:
    engine = overt.resources.engine
    owner = await member(engine, "owner@example.com", overt.site.id)
    admin = await member(engine, "admin@example.com", overt.site.id, role="admin")
    viewer = await member(engine, "viewer@example.com", overt.site.id, role="viewer")
    team_url = f"/app/sites/{overt.site.id}/settings/team"
    async with running(overt.app) as client:
        await sign_in(client, "admin@example.com")
        token = csrf_of((await client.get(team_url)).text)
        refused = await client.post(
            f"{team_url}/members/{owner}", data={"csrf_token": token, "role": "remove"}
        )
        assert refused.status_code == 403
        assert "Only an owner" in refused.text
        promoted = await client.post(
            f"{team_url}/members/{viewer}", data={"csrf_token": token, "role": "owner"}
        )
        assert promoted.status_code == 403
        changed = await client.post(
            f"{team_url}/members/{viewer}", data={"csrf_token": token, "role": "admin"}
        )
        assert changed.status_code == 303
    async with running(overt.app) as client:
        await sign_in(client, "owner@example.com")
        token = csrf_of((await client.get(team_url)).text)
        alone = await client.post(
            f"{team_url}/members/{owner}", data={"csrf_token": token, "role": "viewer"}
        )
        assert alone.status_code == 403
        assert "at least one owner" in alone.text
        removed = await client.post(
            f"{team_url}/members/{admin}", data={"csrf_token": token, "role": "remove"}
        )
        assert removed.status_code == 303
        page = (await client.get(team_url)).text
        assert "admin@example.com" not in page
        assert "viewer@example.com" in page


def test_the_rules_of_roles() -> None:
    assert grantable(Role.viewer) == []
    assert Role.owner not in grantable(Role.admin)
    for actor in Role:
        for current in Role:
            for new in [*Role, None]:
                refused = change_refused(actor=actor, current=current, new=new, owners=1)
                if actor is Role.viewer or (current is Role.owner and new is not Role.owner):
                    assert refused is not None
                if refused is None:
                    assert new is None or new in grantable(actor)


async def test_keys_made_once_listed_and_revoked(overt: Overt) -> None:
    await member(overt.resources.engine, "admin@example.com", overt.site.id, role="admin")
    await sign_in(overt.client, "admin@example.com")
    keys_url = f"/app/sites/{overt.site.id}/settings/keys"
    page = await overt.client.get(keys_url)
    assert page.status_code == 200
    none = await overt.client.post(keys_url, data={"csrf_token": csrf_of(page.text)})
    assert none.status_code == 400
    assert "at least one scope" in none.text
    made = await overt.client.post(
        keys_url,
        data={"csrf_token": csrf_of(page.text), "scope": ["stats:read", "events:write"]},
    )
    secret = re.search(r"ovt_[0-9a-f]{12}_[A-Za-z0-9_-]+", made.text)
    assert secret is not None
    key = await authenticate_key(engine=overt.resources.engine, secret=secret.group(0))
    assert key is not None
    assert key.site_id == overt.site.id
    assert key.scopes == {"stats:read", "events:write"}
    listed = await overt.client.get(keys_url)
    assert secret.group(0) not in listed.text
    assert f"ovt_{key.id}_" in listed.text
    revoked = await overt.client.post(
        f"{keys_url}/{key.id}/revoke", data={"csrf_token": csrf_of(listed.text)}
    )
    assert revoked.status_code == 303
    assert await authenticate_key(engine=overt.resources.engine, secret=secret.group(0)) is None
    # The fixture's key belongs to this site too, but a key id of another site is not found.
    other = await overt.client.post(
        f"{keys_url}/nosuchkey/revoke", data={"csrf_token": csrf_of(listed.text)}
    )
    assert other.status_code == 404
