"""Issue 3 intake on both backends: batches, limits, enrichment, bots, sessions, rollups."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.collector.service import Intake
from shared.models import events, page_hourly, sessions, site_hourly
from shared.settings import Settings
from shared.sites import SiteSettings, create_site
from tests.helpers.capture import stored
from tests.helpers.overt import Overt, make_app, running
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


async def rows_of(overt: Overt, table: Any) -> list[dict[str, Any]]:
    await overt.drained()
    async with overt.resources.engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(select(table))).mappings()]


async def test_a_batch_is_stored_whole(overt: Overt) -> None:
    batch = [overt.event(u=f"https://example.com/p{n}") for n in range(50)]
    assert (await overt.send(batch, **{"user-agent": CHROME})).status_code == 202
    assert sorted(row["path"] for row in await stored(overt)) == sorted(f"/p{n}" for n in range(50))


async def test_one_bad_event_refuses_the_whole_batch(overt: Overt) -> None:
    batch = [overt.event(), overt.event(), overt.event(i="zz")]
    body = assert_problem(await overt.send(batch), 422, "invalid-event")
    assert body["errors"][0]["loc"] == "$[2].i"  # type: ignore[index]
    assert await stored(overt) == []


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"p": {f"k{n}": "v" for n in range(31)}}, "$[0].p"),
        ({"p": {"k" * 65: "v"}}, "$[0].p (key)"),
        ({"p": {"k": "v" * 257}}, "$[0].p[...]"),
        ({"p": {"k": {"nested": 1}}}, "$[0].p[...]"),
        ({"u": "https://example.com/" + "x" * 2048}, "$[0].u"),
        ({"n": "x" * 121}, "$[0].n"),
        ({"d": 101}, "$[0].d"),
        ({"e": -1}, "$[0].e"),
    ],
)
async def test_each_limit_is_a_clear_422(
    overt: Overt, overrides: dict[str, object], loc: str
) -> None:
    body = assert_problem(await overt.send([overt.event(**overrides)]), 422, "invalid-event")
    assert body["errors"][0]["loc"] == loc  # type: ignore[index]


async def test_more_than_50_events_is_422(overt: Overt) -> None:
    body = assert_problem(
        await overt.send([overt.event() for _ in range(51)]), 422, "invalid-event"
    )
    assert "<= 50" in str(body["detail"])


async def test_enrichment_keeps_no_personal_data(overt: Overt) -> None:
    page = "https://example.com/landing?utm_source=Newsletter&utm_campaign=fall&email=a%40b.c"
    await overt.send(
        overt.event(u=page, r="https://www.google.com/search?q=secret+query"),
        **{"user-agent": IPHONE, "sec-gpc": "1"},
    )
    [row] = await stored(overt)
    assert row["path"] == "/landing"
    assert row["utm_source"] == "Newsletter"
    assert row["utm_campaign"] == "fall"
    assert (row["source"], row["medium"]) == ("Google", "search")
    assert row["referrer"] == "https://www.google.com/search"
    assert (row["browser"], row["os"], row["device"]) == ("Mobile Safari", "iOS", "mobile")
    assert row["gpc"] is True
    assert "secret" not in repr(row)
    assert "a@b.c" not in repr(row)


async def test_campaign_without_referrer_is_attributed_to_its_utm_source(overt: Overt) -> None:
    await overt.send(overt.event(u="https://example.com/?utm_source=Mastodon&utm_medium=social"))
    [row] = await stored(overt)
    assert (row["source"], row["medium"]) == ("Mastodon", "campaign")


async def test_bots_are_answered_but_not_stored(overt: Overt) -> None:
    for agent in (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "curl/8.5.0",
        "",
    ):
        assert (await overt.send(overt.event(), **{"user-agent": agent})).status_code == 202
    assert await stored(overt) == []


async def test_props_and_custom_events_are_stored(overt: Overt) -> None:
    await overt.send(overt.event(n="Signup", p={"plan": "pro", "seats": 3, "trial": True}))
    [row] = await stored(overt)
    assert row["name"] == "Signup"
    assert row["props"] == {"plan": "pro", "seats": 3, "trial": True}


async def test_client_time_is_kept_within_bounds(overt: Overt) -> None:
    now_ms = int(time.time() * 1000)
    hour_ago = now_ms - 3600_000
    await overt.send(
        [
            overt.event(t=hour_ago),
            overt.event(t=now_ms - 7 * 86400_000),
            overt.event(t=now_ms + 86400_000),
        ]
    )
    times = sorted(row["occurred_at"] for row in await stored(overt))
    now = datetime.now(UTC)
    assert abs(times[1] - datetime.fromtimestamp(hour_ago / 1000, UTC)) < timedelta(seconds=1)
    assert now - timedelta(hours=24, minutes=1) < times[0] < now - timedelta(hours=23)
    assert now < times[2] < now + timedelta(minutes=6)


async def test_preflight_and_cors(overt: Overt) -> None:
    response = await overt.client.options("/e")
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "content-type" in response.headers["access-control-allow-headers"]
    assert response.headers["x-request-id"]


async def test_intake_answers_carry_request_ids_and_refusals_are_logged(
    overt: Overt, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/e is answered in front of the request-id middleware, so it tags its own answers:
    a new id on each 202, a sane incoming id echoed, the id on refusals, whose access line
    names /e and the status (never the body), and an unexpected error as a bare 500."""
    first, second = await overt.send(overt.event()), await overt.send(overt.event())
    assert first.status_code == second.status_code == 202
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    echoed = await overt.send(overt.event(), **{"x-request-id": "edge-42"})
    assert echoed.headers["x-request-id"] == "edge-42"

    caplog.set_level("INFO", logger="overt.access")
    refused = await overt.send(overt.event(s="no-such-site"), **{"x-request-id": "edge-43"})
    assert refused.status_code == 422  # an unknown site
    assert refused.headers["x-request-id"] == "edge-43"
    assert refused.headers["access-control-allow-origin"] == "*"
    lines = [r.getMessage() for r in caplog.records if r.name == "overt.access"]
    assert lines == ["POST /e 422"]

    async def explode(*_: object) -> int:
        raise RuntimeError("detail: password=hunter2")

    monkeypatch.setattr(Intake, "take", explode)
    with caplog.at_level("ERROR"):
        broken = await overt.send(overt.event(), **{"x-request-id": "edge-44"})
    body = assert_problem(broken, 500, "internal")
    assert body["instance"] == "/e"
    assert broken.headers["x-request-id"] == "edge-44"
    assert "hunter2" not in broken.text
    assert any("unhandled error on POST /e" in r.getMessage() for r in caplog.records)


async def test_sessions_engagement_and_rollups(overt: Overt) -> None:
    """Two visitors; numbers checked against what was sent, by hand."""
    pricing = overt.event(u="https://example.com/pricing", r="https://www.bing.com/")
    await overt.send(pricing, **{"user-agent": CHROME})
    await overt.send(
        [
            overt.event(
                n="engagement", u="https://example.com/pricing", v=pricing["i"], e=4000, d=40
            ),
            overt.event(
                n="engagement", u="https://example.com/pricing", v=pricing["i"], e=7000, d=80
            ),
        ],
        **{"user-agent": CHROME},
    )
    await overt.send(overt.event(u="https://example.com/"), **{"user-agent": IPHONE})

    stored_sessions = {row["device"]: row for row in await rows_of(overt, sessions)}
    desktop, mobile = stored_sessions["desktop"], stored_sessions["mobile"]
    assert (desktop["pageviews"], desktop["events"], desktop["engaged_ms"]) == (1, 3, 11000)
    assert desktop["max_scroll_depth"] == 80
    assert (desktop["entry_path"], desktop["source"], desktop["medium"]) == (
        "/pricing",
        "Bing",
        "search",
    )
    assert mobile["pageviews"] == 1

    by_path = {row["path"]: row for row in await rows_of(overt, page_hourly)}
    assert (by_path["/pricing"]["pageviews"], by_path["/pricing"]["engaged_ms"]) == (1, 11000)
    assert by_path["/"]["entries"] == 1
    [site_row] = await rows_of(overt, site_hourly)
    assert (
        site_row["pageviews"],
        site_row["events"],
        site_row["sessions"],
        site_row["engaged_ms"],
    ) == (2, 4, 2, 11000)

    event_sessions = {row["session_id"] for row in await rows_of(overt, events)}
    assert event_sessions == {desktop["session_id"], mobile["session_id"]}


async def test_a_second_pageview_extends_the_session_and_counts_once(overt: Overt) -> None:
    first, second = overt.event(), overt.event(u="https://example.com/docs")
    await overt.send(first, **{"user-agent": CHROME})
    await overt.drained()
    await overt.send(second, **{"user-agent": CHROME})
    await overt.send(second, **{"user-agent": CHROME})  # a resend changes nothing
    [session] = await rows_of(overt, sessions)
    assert (session["pageviews"], session["exit_path"]) == (2, "/docs")
    [site_row] = await rows_of(overt, site_hourly)
    assert (site_row["pageviews"], site_row["sessions"]) == (2, 1)


async def test_a_goal_is_counted_on_its_session(overt: Overt) -> None:
    await overt.send([overt.event(), overt.event(n="Signup")], **{"user-agent": CHROME})
    [session] = await rows_of(overt, sessions)
    assert session["goals"] == 1


async def test_thirty_minutes_of_silence_start_a_new_session(overt: Overt) -> None:
    now_ms = int(time.time() * 1000)
    await overt.send(
        [
            overt.event(t=now_ms - 3 * 3600_000),
            overt.event(t=now_ms - 2 * 3600_000),
            overt.event(t=now_ms - 2 * 3600_000 + 29 * 60_000),
        ],
        **{"user-agent": CHROME},
    )
    pageviews = sorted(row["pageviews"] for row in await rows_of(overt, sessions))
    assert pageviews == [1, 2]


async def test_per_site_engagement_thresholds(resources: Any) -> None:
    strict = SiteSettings(engaged_min_ms=60_000, engaged_min_pageviews=5)
    site = await create_site(engine=resources.engine, domain="example.com", settings=strict)
    async with running(make_app(resources)) as client:
        page = {"s": site.id, "n": "pageview", "u": "https://example.com/", "i": uuid.uuid4().hex}
        engaged = {
            "s": site.id,
            "n": "engagement",
            "u": "https://example.com/",
            "i": uuid.uuid4().hex,
            "v": page["i"],
            "e": 30_000,
        }
        second = dict(page, i=uuid.uuid4().hex)
        import orjson

        response = await client.post(
            "/e",
            content=orjson.dumps([page, engaged, second]),
            headers={"content-type": "text/plain", "user-agent": CHROME},
        )
        assert response.status_code == 202
        from tests.helpers.overt import wait_drained

        await wait_drained(resources.queue)
    async with resources.engine.connect() as conn:
        [session] = (await conn.execute(select(sessions))).mappings().all()
    assert (session["pageviews"], session["engaged_ms"]) == (2, 30000)


async def test_rate_limit_is_429_with_retry_after(resources: Any) -> None:
    site = await create_site(
        engine=resources.engine, domain="example.com", settings=SiteSettings(events_per_second=10)
    )
    import orjson

    async with running(make_app(resources)) as client:
        statuses = []
        for _ in range(3):
            batch = [
                {"s": site.id, "n": "pageview", "u": "https://example.com/", "i": uuid.uuid4().hex}
                for _ in range(9)
            ]
            response = await client.post(
                "/e",
                content=orjson.dumps(batch),
                headers={"content-type": "text/plain", "user-agent": CHROME},
            )
            statuses.append(response.status_code)
    assert statuses == [202, 202, 429]  # burst of 2 s x 10/s = 20 events
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == "application/problem+json"


async def test_full_stream_is_503_with_retry_after(postgres_settings: Settings) -> None:
    from shared.runtime import open_resources

    settings = postgres_settings.model_copy(update={"queue_max_entries": 2})
    async with open_resources(settings) as resources:
        site = await create_site(engine=resources.engine, domain="example.com")
        import orjson

        async with running(make_app(resources, worker=False)) as client:
            statuses = []
            for _ in range(5):
                body = {
                    "s": site.id,
                    "n": "pageview",
                    "u": "https://example.com/",
                    "i": uuid.uuid4().hex,
                }
                response = await client.post(
                    "/e",
                    content=orjson.dumps(body),
                    headers={"content-type": "text/plain", "user-agent": CHROME},
                )
                statuses.append(response.status_code)
        assert statuses[:2] == [202, 202]
        assert set(statuses[2:]) == {503}
        assert response.headers["retry-after"] == "2"
        assert await resources.queue.depth() == 2  # nothing beyond the limit was queued


async def test_trusted_proxy_headers(resources: Any) -> None:
    settings = resources.settings.model_copy(
        update={"client_ip_header": "X-Forwarded-For", "country_header": "CF-IPCountry"}
    )
    from dataclasses import replace

    proxied = replace(resources, settings=settings)
    site = await create_site(engine=resources.engine, domain="example.com")
    import orjson

    async with running(make_app(proxied)) as client:
        for ip in ("198.51.100.1", "198.51.100.2"):
            body = {
                "s": site.id,
                "n": "pageview",
                "u": "https://example.com/",
                "i": uuid.uuid4().hex,
            }
            response = await client.post(
                "/e",
                content=orjson.dumps(body),
                headers={
                    "content-type": "text/plain",
                    "user-agent": CHROME,
                    "x-forwarded-for": f"{ip}, 10.0.0.1",
                    "cf-ipcountry": "de",
                },
            )
            assert response.status_code == 202
        from tests.helpers.overt import wait_drained

        await wait_drained(resources.queue)
    async with resources.engine.connect() as conn:
        rows = (await conn.execute(select(events.c.visitor_hash, events.c.country))).all()
    assert {row.country for row in rows} == {"DE"}
    assert len({row.visitor_hash for row in rows}) == 2  # the forwarded IP, not the proxy's
