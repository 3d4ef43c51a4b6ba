"""Segments on both backends: saved filter trees, usable wherever filters are, under the
same k-anonymity refusals. Counts are `traffic`'s (tests/api/test_query_engine.py): 6
visitors from Google, 6 direct, 3 from Bing, 2 from DuckDuckGo."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.sites import create_site
from tests.helpers.isolation import GOOGLE_ONLY
from tests.helpers.overt import Overt
from tests.helpers.people import definitions_key
from tests.helpers.problems import assert_problem
from tests.helpers.traffic import ask, days, rows, traffic

pytestmark = pytest.mark.anyio


async def save(overt: Overt, key: str, name: str, filters: dict[str, Any]) -> httpx.Response:
    return await overt.client.post(
        f"/v1/sites/{overt.site.id}/segments",
        json={"name": name, "filters": filters},
        headers={"authorization": f"Bearer {key}"},
    )


def segment(*ids: str, op: str = "is") -> dict[str, Any]:
    return {"dimension": "segment", "op": op, "values": list(ids)}


async def test_segments_are_saved_read_changed_and_deleted(overt: Overt) -> None:
    key = await definitions_key(overt)
    headers = {"authorization": f"Bearer {key}"}
    made = await save(overt, key, "From Google", GOOGLE_ONLY)
    assert made.status_code == 201, made.text
    saved = made.json()
    assert saved["filters"] == GOOGLE_ONLY
    url = f"/v1/sites/{overt.site.id}/segments"
    read = {"authorization": f"Bearer {overt.key}"}
    listed = (await overt.client.get(url, headers=read)).json()
    assert [s["name"] for s in listed["segments"]] == ["From Google"]
    tree = {"or": [GOOGLE_ONLY, {"not": {"dimension": "page", "op": "is", "values": ["/"]}}]}
    changed = await overt.client.put(
        f"{url}/{saved['id']}",
        json={"name": "Google or not home", "filters": tree},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    one = (await overt.client.get(f"{url}/{saved['id']}", headers=read)).json()
    assert (one["name"], one["filters"]) == ("Google or not home", tree)

    assert_problem(
        await save(overt, key, "Google or not home", GOOGLE_ONLY), 409, "segment-name-taken"
    )
    nested = await save(overt, key, "Nested", segment(saved["id"]))
    assert_problem(nested, 422, "validation-error")
    assert_problem(await save(overt, overt.key, "Read key", GOOGLE_ONLY), 403, "missing-scope")

    assert (await overt.client.delete(f"{url}/{saved['id']}", headers=headers)).status_code == 204
    assert_problem(
        await overt.client.get(f"{url}/{saved['id']}", headers=read), 404, "segment-not-found"
    )
    assert_problem(
        await overt.client.delete(f"{url}/{saved['id']}", headers=headers), 404, "segment-not-found"
    )


async def test_a_segment_answers_as_its_filters_do(overt: Overt) -> None:
    await traffic(overt)
    key = await definitions_key(overt)
    google = (await save(overt, key, "Google", GOOGLE_ONLY)).json()["id"]
    blog = {"dimension": "page", "op": "is", "values": ["/blog"]}
    on_blog = (await save(overt, key, "Blog", blog)).json()["id"]

    async def visitors(filters: dict[str, Any]) -> int:
        [[_, [count]]] = await rows(overt, metrics=["visitors"], filters=filters)
        return int(count)

    assert await visitors(segment(google)) == 6
    assert await visitors(segment(google, op="is_not")) == 11
    assert await visitors(segment(google, on_blog)) == 11  # either segment
    both = {"and": [segment(google), {"dimension": "page", "op": "is", "values": ["/pricing"]}]}
    assert await visitors(both) == 6
    # In a breakdown, and echoed as asked.
    response = await ask(overt, metrics=["visitors"], dimensions=["page"], filters=segment(on_blog))
    assert [r["dimensions"] for r in response.json()["results"]] == [["/blog"]]
    assert response.json()["query"]["filters"] == segment(on_blog)
    # The same refusals as the filters it stands for: Bing alone is 3 bare hits (< k).
    bing = {"dimension": "source", "op": "is", "values": ["Bing"]}
    small = (await save(overt, key, "Bing", bing)).json()["id"]
    refused = await ask(overt, metrics=["visitors"], dimensions=["source"], filters=segment(small))
    assert_problem(refused, 422, "k-anonymity")
    # In a funnel report, too.
    funnel = await overt.client.post(
        "/v1/reports/funnel",
        json={
            "site_id": overt.site.id,
            "date_range": days(),
            "steps": [{"page": "/pricing"}, {"goal": "Signup"}],
            "filters": segment(google),
        },
        headers={"authorization": f"Bearer {overt.key}"},
    )
    assert [s["sessions"] for s in funnel.json()["steps"]] == [6, 5]


async def test_unknown_and_other_sites_segments_are_refused(overt: Overt) -> None:
    other = await create_site(engine=overt.resources.engine, domain="other.example")
    theirs = await overt.client.post(
        f"/v1/sites/{other.id}/segments",
        json={"name": "Theirs", "filters": GOOGLE_ONLY},
        headers={"authorization": f"Bearer {await definitions_key(overt, other.id)}"},
    )
    assert theirs.status_code == 201, theirs.text
    for ids in (["nope"], [theirs.json()["id"]]):
        response = await ask(overt, metrics=["visitors"], filters=segment(*ids))
        assert_problem(response, 422, "unknown-segment")
    bad_op = await ask(
        overt,
        metrics=["visitors"],
        filters={"dimension": "segment", "op": "contains", "values": ["x"]},
    )
    assert_problem(bad_op, 422, "validation-error")
    # Segments that together outgrow the filter limits: refused, not run.
    key = await definitions_key(overt)
    wide = {"or": [GOOGLE_ONLY] * 20}
    ids = [(await save(overt, key, f"Wide {i}", wide)).json()["id"] for i in range(3)]
    assert_problem(
        await ask(overt, metrics=["visitors"], filters=segment(*ids)), 422, "segments-too-large"
    )
