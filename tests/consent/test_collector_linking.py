"""Tier 2 at the collector, on both backends: an event is linked to a person only with a
valid, unrevoked identification token, never under GPC, and erasure removes every link."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from shared.models import events
from shared.sites import Site
from tests.helpers.consent import open_page, post, post_decisions
from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0"


async def links(overt: Overt) -> dict[str, str | None]:
    await overt.drained()
    async with overt.resources.engine.connect() as conn:
        rows = (await conn.execute(select(events.c.path, events.c.subject_id))).all()
    return {row.path: row.subject_id for row in rows}


async def send(overt: Overt, path: str, token: str | None, **headers: str) -> None:
    body: dict[str, Any] = overt.event(u=f"https://example.com{path}")
    if token:
        body["k"] = token
    response = await overt.send(body, **{"user-agent": CHROME, **headers})
    assert response.status_code == 202


async def test_link_only_with_consent_until_withdrawn_and_erased(overt: Overt, site: Site) -> None:
    granted = (await post_decisions(overt, site, identification=True)).json()
    subject, token = granted["subject_id"], granted["token"]
    assert token

    await send(overt, "/linked", token)
    await send(overt, "/no-token", None)
    await send(overt, "/gpc", token, **{"sec-gpc": "1"})
    await send(overt, "/forged", token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    assert await links(overt) == {
        "/linked": subject,
        "/no-token": None,
        "/gpc": None,
        "/forged": None,
    }

    # The subject's export lists the events linked to them, and only those.
    exported = await overt.client.get(
        f"/consent/sites/{site.id}/export",
        headers={"authorization": f"Bearer {granted['credential']}"},
    )
    assert exported.status_code == 200, exported.text
    assert [e["page"] for e in exported.json()["linked_events"]] == ["example.com/linked"]

    # Withdrawal on the hosted preference page (no JavaScript, CSRF-checked form), then the
    # very next event: the token is dead at once.
    overt.client.cookies.set("overt_subject", granted["credential"])
    _, csrf = await open_page(overt, site)
    withdrawn = await post(overt, site, "choices", csrf=csrf, withdraw="identification")
    assert withdrawn.status_code == 303
    await send(overt, "/after-withdrawal", token)
    assert (await links(overt))["/after-withdrawal"] is None

    # Erasure: the earlier link goes too; the events stay, anonymous.
    response = await overt.client.post(
        f"/consent/sites/{site.id}/erase",
        headers={"authorization": f"Bearer {granted['credential']}"},
    )
    assert response.status_code == 200, response.text
    assert set((await links(overt)).values()) == {None}
    async with overt.resources.engine.connect() as conn:
        assert len((await conn.execute(select(events))).all()) == 5
