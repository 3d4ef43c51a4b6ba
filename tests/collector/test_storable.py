"""Every event /e accepts can be stored on both backends; what cannot is refused with a 422.

PostgreSQL refuses NUL in text and values longer than a VARCHAR(n) column, where SQLite
takes both: before intake checked, such an event was answered 202 and then stopped the
worker on PostgreSQL. Client-controlled fields are refused; enrichment's own values are
clamped (issue 17, finding 1a). Unparsable URLs and Origins are not a 500 (finding 8).
"""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.capture import stored
from tests.helpers.overt import Overt
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

LONG_SUBDOMAIN = ("a" * 63 + ".") * 5 + "example.com"  # 320 characters before the site's domain
APP_USER_AGENT = "A" * 100 + "/1.0 CFNetwork/1209 Darwin/20.2.0"  # ua-parser: browser "AAA…"


def invalid_at(response: httpx.Response, loc: str) -> None:
    """A 422 invalid-event problem whose one error points at `loc`."""
    errors = assert_problem(response, 422, "invalid-event")["errors"]
    assert isinstance(errors, list)
    assert [error["loc"] for error in errors] == [loc]


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
    assert_problem(await overt.send(body.encode()), 400, "malformed-json")


async def test_an_unparsable_page_url_is_an_invalid_event(overt: Overt) -> None:
    invalid_at(await overt.send(overt.event(u="https://[example.com/")), "$.u")
    invalid_at(await overt.send(overt.event(u="https://exa\uff03mple.com/")), "$.u")


async def test_an_unparsable_referrer_counts_as_direct(overt: Overt) -> None:
    response = await overt.send(overt.event(r="https://[news.example.org/"))
    assert response.status_code == 202
    [row] = await stored(overt)
    assert (row["referrer"], row["source"], row["medium"]) == (None, "Direct", "direct")


async def test_an_unparsable_origin_is_refused_like_an_opaque_one(overt: Overt) -> None:
    assert_problem(await overt.send(overt.event(), origin="https://[x"), 403, "wrong-origin")
    assert await stored(overt) == []
