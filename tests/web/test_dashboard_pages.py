"""The dashboard's pages in-process on both backends: the first paint carries the numbers
without JavaScript, roles decide what is reachable, a shared link shows the dashboard and
nothing else, CSV and "show more" answer what the screen shows."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest

from tests.helpers.dashboard import screen_query, signed_in
from tests.helpers.overt import Overt
from tests.helpers.traffic import days, traffic
from tests.helpers.web import csrf_of

pytestmark = pytest.mark.anyio


async def test_the_first_paint_has_the_numbers_and_the_words(overt: Overt) -> None:
    await traffic(overt)
    async with await signed_in(overt, "viewer") as client:
        response = await client.get(f"/app/sites/{overt.site.id}{screen_query()}")
        assert response.status_code == 200, response.text
        html = response.text
        assert 'data-metric="visitors">17<' in html
        assert 'data-metric="pageviews">18<' in html
        # Bing and DuckDuckGo are under k = 5: said in words beside the sources.
        assert "2 groups smaller than 5 are left out" in html
        assert "IP geolocation by DB-IP" in html
        assert "creativecommons.org/licenses/by/4.0/" in html
        # No inline script: every script carries the nonce, the chart's data is JSON.
        csp = response.headers["content-security-policy"]
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
        assert re.findall(r"<script(?![^>]*(nonce=|type=\"application/json\"))", html) == []
        # A viewer sees no sharing link, and cannot reach the sharing page.
        assert f"/app/sites/{overt.site.id}/sharing" not in html
        assert (await client.get(f"/app/sites/{overt.site.id}/sharing")).status_code == 403
        # A site the user has no role on is not disclosed.
        assert (await client.get("/app/sites/nosuchsite")).status_code == 404
        # A bad address is a clear 400.
        bad = await client.get(f"/app/sites/{overt.site.id}?period=fortnight")
        assert bad.status_code == 400
        assert "period: one of" in bad.text


async def test_click_to_filter_links_and_show_more(overt: Overt) -> None:
    await traffic(overt)
    async with await signed_in(overt, "viewer") as client:
        html = (await client.get(f"/app/sites/{overt.site.id}{screen_query()}")).text
        link = re.search(r'href="([^"]*f=is%2Csource%2CGoogle[^"]*)"', html)
        assert link is not None
        filtered = await client.get(link.group(1).replace("&amp;", "&"))
        assert filtered.status_code == 200
        assert 'data-metric="visitors">6<' in filtered.text
        assert "source is Google" in filtered.text  # the chip
        # A tab through htmx: the panel alone.
        part = await client.get(
            f"/app/sites/{overt.site.id}/panels/pages{screen_query()}&tab=entry_page",
            headers={"HX-Request": "true"},
        )
        assert part.status_code == 200
        assert part.text.startswith('<section class="card panel" id="panel-pages"')
        assert "Entry pages" in part.text
        # "Show more" past the first rows: rows, and the link replaced out of band.
        more = await client.get(
            f"/app/sites/{overt.site.id}/panels/pages{screen_query()}&offset=2",
            headers={"HX-Request": "true"},
        )
        assert more.text.count("<tr>") == 2  # /blog and /docs after / and /pricing
        assert 'hx-swap-oob="true"' in more.text
        # Without JavaScript, "show more" is a page of its own.
        page = await client.get(f"/app/sites/{overt.site.id}/panels/pages{screen_query()}")
        assert "<!doctype html>" in page.text
        assert page.text.count("<tr>") == 5  # the heading and four pages


async def test_csv_is_what_the_screen_shows(overt: Overt) -> None:
    await traffic(overt)
    async with await signed_in(overt, "viewer") as client:
        response = await client.get(
            f"/app/sites/{overt.site.id}/export.csv{screen_query()}&compare=previous_period"
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["section", "row", "metric", "value", "comparison_value", "change"]
    assert ["totals", "", "visitors", "17", "0", "100"] in rows
    assert ["Sources", "Google", "visitors", "6", "", ""] in rows


async def test_a_shared_link_shows_the_dashboard_read_only_and_nothing_else(
    overt: Overt,
) -> None:
    await traffic(overt)
    async with await signed_in(overt, "admin") as admin:
        sharing = await admin.get(f"/app/sites/{overt.site.id}/sharing")
        assert sharing.status_code == 200
        made = await admin.post(
            f"/app/sites/{overt.site.id}/sharing",
            data={"csrf_token": csrf_of(sharing.text), "label": "Board"},
        )
        assert made.status_code == 201, made.text
        found = re.search(r"/share/([A-Za-z0-9_-]+)", made.text)
        assert found is not None
        token = found.group(1)
        refused = await admin.post(f"/app/sites/{overt.site.id}/sharing", data={"label": "x"})
        assert refused.status_code == 403  # no CSRF token

    anonymous = httpx.AsyncClient(
        transport=overt.client._transport, base_url=str(overt.client.base_url)
    )
    async with anonymous:
        shared = await anonymous.get(f"/share/{token}{screen_query()}")
        assert shared.status_code == 200
        html = shared.text
        assert 'data-metric="visitors">17<' in html
        assert "read-only" in html
        for elsewhere in ("/settings", "/sharing", "/app/sites/", "/annotations", "Sign out"):
            assert elsewhere not in html, elsewhere
        assert "frame-ancestors *" in shared.headers["content-security-policy"]
        assert "x-frame-options" not in shared.headers
        csv_answer = await anonymous.get(f"/share/{token}/export.csv{screen_query()}")
        assert ["totals", "", "visitors", "17", "", ""] in list(
            csv.reader(io.StringIO(csv_answer.text))
        )
        assert (await anonymous.get("/share/not-a-real-token")).status_code == 404

    async with await signed_in(overt, "admin", "second@example.com") as admin:
        sharing = await admin.get(f"/app/sites/{overt.site.id}/sharing")
        share_id = re.search(r"/sharing/([0-9a-f]+)/revoke", sharing.text)
        assert share_id is not None
        revoked = await admin.post(
            f"/app/sites/{overt.site.id}/sharing/{share_id.group(1)}/revoke",
            data={"csrf_token": csrf_of(sharing.text)},
        )
        assert revoked.status_code == 303
    gone = await overt.client.get(f"/share/{token}")
    assert gone.status_code == 404


async def test_a_password_protected_link(overt: Overt) -> None:
    async with await signed_in(overt, "owner") as owner:
        sharing = await owner.get(f"/app/sites/{overt.site.id}/sharing")
        made = await owner.post(
            f"/app/sites/{overt.site.id}/sharing",
            data={"csrf_token": csrf_of(sharing.text), "password": "open sesame please"},
        )
        found = re.search(r"/share/([A-Za-z0-9_-]+)", made.text)
        assert found is not None
        token = found.group(1)
    async with httpx.AsyncClient(
        transport=overt.client._transport, base_url=str(overt.client.base_url)
    ) as reader:
        locked = await reader.get(f"/share/{token}")
        assert locked.status_code == 401
        assert "This dashboard has a password" in locked.text
        assert (await reader.get(f"/share/{token}/export.csv")).status_code == 404
        wrong = await reader.post(
            f"/share/{token}", data={"csrf_token": csrf_of(locked.text), "password": "nope"}
        )
        assert wrong.status_code == 401
        right = await reader.post(
            f"/share/{token}",
            data={"csrf_token": csrf_of(locked.text), "password": "open sesame please"},
        )
        assert right.status_code == 303
        assert (await reader.get(f"/share/{token}")).status_code == 200


async def test_annotations_by_admins_only_and_the_rollup(overt: Overt) -> None:
    await traffic(overt)
    last = days()[1]
    async with await signed_in(overt, "viewer") as viewer:
        page = await viewer.get(f"/app/sites/{overt.site.id}")
        denied = await viewer.post(
            f"/app/sites/{overt.site.id}/annotations",
            data={"csrf_token": csrf_of(page.text), "day": last, "text": "launch"},
        )
        assert denied.status_code == 403
        rollup = await viewer.get("/app/")
        assert rollup.status_code == 200
        assert "example.com" in rollup.text
        assert '<svg class="sparkline"' in rollup.text
    async with await signed_in(overt, "admin") as admin:
        page = await admin.get(f"/app/sites/{overt.site.id}{screen_query()}")
        added = await admin.post(
            f"/app/sites/{overt.site.id}/annotations{screen_query()}",
            data={"csrf_token": csrf_of(page.text), "day": last, "text": "Launched <b>it</b>"},
        )
        assert added.status_code == 303
        page = await admin.get(added.headers["location"])
        assert "Launched &lt;b&gt;it&lt;/b&gt;" in page.text
        # The note is on the chart's data too, escaped inside the JSON.
        chart = re.search(
            r'<script type="application/json" id="chart-data">(.*?)</script>', page.text
        )
        assert chart is not None
        assert "<b>" not in chart.group(1)
        # Two days are drawn by the hour: today's note sits on its first hour, bucket 24.
        assert '"annotations": [{"index": 24, "kind": "manual"' in chart.group(1)
