"""Every event /e accepts can be stored on both backends; what cannot is refused with a 422.

PostgreSQL refuses NUL in text and values longer than a VARCHAR(n) column, where SQLite
takes both: before intake checked, such an event was answered 202 and then stopped the
worker on PostgreSQL. Client-controlled fields are refused; enrichment's own values are
clamped (issue 17, finding 1a). Unparsable URLs and Origins are not a 500 (finding 8).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from shared.db import events
from tests.conftest import Overt

pytestmark = pytest.mark.anyio

LONG_SUBDOMAIN = ("a" * 63 + ".") * 5 + "example.com"  # 320 characters before the site's domain
APP_USER_AGENT = "A" * 100 + "/1.0 CFNetwork/1209 Darwin/20.2.0"  # ua-parser: browser "AAA…"


async def stored(overt: Overt) -> list[dict[str, Any]]:
    await overt.drained()
    async with overt.resources.engine.connect() as conn:
        rows = (await conn.execute(select(events))).mappings().all()
    return [dict(row) for row in rows]


def invalid_at(response: httpx.Response, loc: str) -> None:
    """A 422 invalid-event problem whose one error points at `loc`."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/invalid-event")
    assert [error["loc"] for error in problem["errors"]] == [loc]


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"n": "sign\x00up"}, "$.n"),
        ({"u": "https://example.com/?utm_campaign=spring%00sale"}, "$.u"),
        ({"u": f"https://{LONG_SUBDOMAIN}/"}, "$.u"),
        ({"u": "https://example.com/a\x00b"}, "$.u"),
        ({"r": "https://news.example.org/\x00"}, "$.r"),
        ({"p": {"plan": "pro\x00"}}, "$.p"),
        ({"p": {"pl\x00an": "pro"}}, "$.p"),
    ],
)
async def test_a_client_value_the_database_cannot_store_is_refused(
    overt: Overt, overrides: dict[str, object], loc: str
) -> None:
    invalid_at(await overt.send(overt.event(**overrides)), loc)
    # The refusal does not hold up the events after it.
    assert (await overt.send(overt.event())).status_code == 202
    assert len(await stored(overt)) == 1


async def test_a_refusal_in_a_batch_points_at_its_event(overt: Overt) -> None:
    invalid_at(await overt.send([overt.event(), overt.event(n="a\x00")]), "$[1].n")
    assert await stored(overt) == []


async def test_a_long_browser_name_from_the_user_agent_is_clamped(overt: Overt) -> None:
    response = await overt.send(overt.event(), **{"user-agent": APP_USER_AGENT})
    assert response.status_code == 202
    [row] = await stored(overt)
    assert row["browser"] == "A" * 64
    assert row["os"] == "iOS"


async def test_a_lone_surrogate_never_reaches_intake(overt: Overt) -> None:
    """JSON can spell one (\\ud800) but UTF-8 cannot store it: the decoder refuses the body."""
    body = f'{{"s": "{overt.site.id}", "i": "{"0" * 32}", "n": "a\\ud800", "u": "https://example.com/"}}'
    response = await overt.send(body.encode())
    assert response.status_code == 400
    assert response.json()["type"].endswith("/malformed-json")


async def test_an_unparsable_page_url_is_an_invalid_event(overt: Overt) -> None:
    invalid_at(await overt.send(overt.event(u="https://[example.com/")), "$.u")
    invalid_at(await overt.send(overt.event(u="https://exa\uff03mple.com/")), "$.u")


async def test_an_unparsable_referrer_counts_as_direct(overt: Overt) -> None:
    response = await overt.send(overt.event(r="https://[news.example.org/"))
    assert response.status_code == 202
    [row] = await stored(overt)
    assert (row["referrer"], row["source"], row["medium"]) == (None, "Direct", "direct")


async def test_an_unparsable_origin_is_refused_like_an_opaque_one(overt: Overt) -> None:
    response = await overt.send(overt.event(), origin="https://[x")
    assert response.status_code == 403, response.text
    assert response.json()["type"].endswith("/wrong-origin")
    assert await stored(overt) == []
