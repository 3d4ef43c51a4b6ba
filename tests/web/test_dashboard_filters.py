"""Filters built in the dashboard's form, saved as a segment and read through it, in-process
on both backends: several conditions with several values each, shown as chips, each
removable, and every number what POST /v1/query answers to the same filter tree (over the
traffic of tests/helpers/traffic.py: 6 Google, 6 direct, 3 Bing, 2 DuckDuckGo visitors;
k = 5 refuses a filter leaving out Bing or DuckDuckGo, whose visitors spent no time)."""

from __future__ import annotations

import html as markup
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.helpers.dashboard import screen_query, signed_in
from tests.helpers.overt import Overt
from tests.helpers.traffic import days, traffic
from tests.helpers.web import csrf_of

pytestmark = pytest.mark.anyio


def visitors_tile(page: str) -> int:
    found = re.search(r'data-metric="visitors">([0-9]+)<', page)
    assert found is not None, "the page shows no visitors tile"
    return int(found.group(1))


def chips(page: str) -> list[str]:
    return [markup.unescape(c) for c in re.findall(r'aria-label="Remove filter: ([^"]*)"', page)]


async def v1_visitors(overt: Overt, filters: dict[str, Any]) -> int:
    first, last = days()
    answer = await overt.client.post(
        "/v1/query",
        json={
            "site_id": overt.site.id,
            "date_range": [first, last],
            "metrics": ["visitors"],
            "filters": filters,
        },
        headers={"authorization": f"Bearer {overt.key}"},
    )
    assert answer.status_code == 200, answer.text
    value: int = answer.json()["results"][0]["metrics"][0]
    return value


async def add_filter(client: httpx.AsyncClient, at: str, **fields: str) -> str:
    """Where the filter form, sent from the dashboard at `at`, takes the browser."""
    url = urlsplit(at)
    params = httpx.QueryParams([*parse_qsl(url.query), *fields.items()])
    answer = await client.get(f"{url.path}/filter", params=params)
    assert answer.status_code == 303, answer.text
    location: str = answer.headers["location"]
    return location


async def test_conditions_built_in_the_form_answer_as_v1_query(overt: Overt) -> None:
    await traffic(overt)
    site = f"/app/sites/{overt.site.id}"
    async with await signed_in(overt, "viewer") as client:
        at = await add_filter(
            client,
            site + screen_query(),
            dimension="source",
            op="is_not",
            values="Google\n Yahoo \n\nGoogle",
        )
        at = await add_filter(
            client, at, dimension="hostname", op="contains", values="EXAMPLE.COM\nexample.org"
        )
        assert parse_qsl(urlsplit(at).query)[3:] == [
            ("f", "is_not,source,Google"),
            ("f", "is_not,source,Yahoo"),
            ("f", "contains,hostname,EXAMPLE.COM"),
            ("f", "contains,hostname,example.org"),
        ]
        page = (await client.get(at)).text
        assert chips(page) == [
            "source is not Google nor Yahoo",
            "hostname contains EXAMPLE.COM or example.org",
        ]
        expected = await v1_visitors(
            overt,
            {
                "and": [
                    {"dimension": "source", "op": "is_not", "values": ["Google", "Yahoo"]},
                    {
                        "dimension": "hostname",
                        "op": "contains",
                        "values": ["EXAMPLE.COM", "example.org"],
                    },
                ]
            },
        )
        assert visitors_tile(page) == expected == 11
        # A custom property, named in its own field.
        by_plan = await add_filter(
            client, at, dimension="prop", property="plan", op="contains", values="PR"
        )
        assert ("f", "contains,prop:plan,PR") in parse_qsl(urlsplit(by_plan).query)
        # Each chip's remove link drops its condition alone.
        remove = re.findall(r'href="([^"]*)" aria-label="Remove filter: source', page)
        assert len(remove) == 1
        left = (await client.get(markup.unescape(remove[0]))).text
        assert chips(left) == ["hostname contains EXAMPLE.COM or example.org"]
        assert visitors_tile(left) == 17
        # What the form cannot mean is a 400 saying why, never a guess.
        for fields, words in (
            ({"dimension": "page", "op": "matches", "values": "("}, "f: "),
            ({"dimension": "colour", "op": "is", "values": "red"}, "f: "),
            ({"dimension": "page", "op": "equals", "values": "/"}, "unknown operator"),
            ({"dimension": "page", "op": "is", "values": "\n \n"}, "at least one value"),
        ):
            refused = await client.get(f"{site}/filter", params=fields)
            assert refused.status_code == 400
            assert words in refused.text


async def test_a_saved_segment_is_applied_from_the_top_bar(overt: Overt) -> None:
    await traffic(overt)
    site = f"/app/sites/{overt.site.id}"
    screen = site + screen_query() + "&f=is_not,source,Google&f=is_not,source,Yahoo"
    async with await signed_in(overt, "viewer") as viewer:
        page = (await viewer.get(screen)).text
        assert "Save segment" not in page  # a viewer reads, and cannot save
        refused = await viewer.post(
            f"{site}/segments" + screen_query(),
            data={"csrf_token": csrf_of(page), "name": "Search"},
        )
        assert refused.status_code == 403  # a member below the role: told which role
    async with await signed_in(overt, "admin") as admin:
        page = (await admin.get(screen)).text
        assert "Save segment" in page
        saved = await admin.post(
            f"{site}/segments?{urlsplit(screen).query}",
            data={"csrf_token": csrf_of(page), "name": "Not from Google"},
        )
        assert saved.status_code == 303, saved.text
        read = saved.headers["location"]
        segment_ids = [v.split(",", 2)[2] for k, v in parse_qsl(urlsplit(read).query) if k == "f"]
        assert len(segment_ids) == 1
        through = (await admin.get(read)).text
        assert chips(through) == ["segment is Not from Google"]
        expected = await v1_visitors(
            overt, {"dimension": "segment", "op": "is", "values": segment_ids}
        )
        assert visitors_tile(through) == expected == 11
        # The top bar lists it, and applies it to another screen.
        listed = re.search(r'<a href="([^"]*)">Not from Google</a>', (await admin.get(site)).text)
        assert listed is not None
        assert segment_ids[0] in markup.unescape(listed.group(1))
        # A name taken twice is said on the page, not a bare error.
        again = await admin.post(
            f"{site}/segments?f=is,source,Google",
            data={"csrf_token": csrf_of(page), "name": "Not from Google"},
        )
        assert again.status_code == 422
        assert "The segment was not saved" in again.text
        # Without its token, nothing is saved.
        forged = await admin.post(f"{site}/segments?f=is,source,Google", data={"name": "x"})
        assert forged.status_code == 403
