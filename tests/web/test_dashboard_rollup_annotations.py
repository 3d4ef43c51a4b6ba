"""The roll-up across sites and the chart's annotations, on both backends."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from services.api.web.dashboard.annotations import (
    AnnotationRefused,
    add_annotation,
    delete_annotation,
    list_annotations,
)
from services.api.web.dashboard.rollup import sparkline, summarise_sites
from services.consent.notices.service import create_default_notice, publish_notice
from shared.sites import create_site
from tests.helpers.overt import Overt
from tests.helpers.traffic import traffic

pytestmark = pytest.mark.anyio


async def test_the_rollup_is_each_sites_visitors_with_change_and_days(overt: Overt) -> None:
    await traffic(overt)
    quiet = await create_site(engine=overt.resources.engine, domain="quiet.example")
    lines = await summarise_sites(
        engine=overt.resources.engine,
        sites=[(quiet, "viewer"), (overt.site, "owner")],
        timeout_s=10,
    )
    assert [line.site.domain for line in lines] == ["example.com", "quiet.example"]
    busy, calm = lines
    assert (busy.visitors, busy.change, busy.change_text) == (17, 100, "+100%")
    assert len(busy.daily) == 30
    assert busy.daily[-1] == 17  # all of it today
    assert sum(busy.daily) == 17
    assert (calm.visitors, calm.change, calm.daily) == (0, 0, [0] * 30)
    response = await overt.client.post(
        "/v1/query",
        json={"site_id": overt.site.id, "metrics": ["visitors"], "date_range": "30d"},
        headers={"authorization": f"Bearer {overt.key}"},
    )
    assert response.json()["results"][0]["metrics"] == [busy.visitors]


@given(st.lists(st.integers(min_value=0, max_value=10**9), max_size=400))
def test_a_sparkline_is_numbers_in_a_fixed_shape(values: list[int]) -> None:
    svg = sparkline(values)
    if not values:
        assert svg == ""
        return
    points = re.fullmatch(r'<svg [^<>]*><polyline [^<>]* points="([0-9., ]*)"/></svg>', svg)
    assert points is not None
    pairs = [tuple(map(float, p.split(","))) for p in points.group(1).split()]
    assert len(pairs) == len(values)
    assert all(0 <= x <= 120 and 0 <= y <= 28 for x, y in pairs)
    if max(values):
        highest = values.index(max(values))
        assert pairs[highest][1] == min(y for _, y in pairs)


async def test_annotations_manual_and_automatic(overt: Overt) -> None:
    engine, site = overt.resources.engine, overt.site
    today = datetime.now(UTC).date()
    week = (today - timedelta(days=6), today)
    first = await add_annotation(engine=engine, site_id=site.id, day=today, text="  New  pricing ")
    await add_annotation(engine=engine, site_id=site.id, day=today - timedelta(days=30), text="old")
    with pytest.raises(AnnotationRefused):
        await add_annotation(engine=engine, site_id=site.id, day=today, text="   ")
    with pytest.raises(AnnotationRefused):
        await add_annotation(engine=engine, site_id=site.id, day=today, text="x" * 201)
    await store_definition(engine=engine, site_id=site.id, body=DefinitionIn(k=3))
    await store_definition(engine=engine, site_id=site.id, body=DefinitionIn(k=4))
    found = await list_annotations(engine=engine, site_id=site.id, days=week, timezone="UTC")
    assert [(a.day, a.text, a.kind) for a in found] == [
        (today, "New pricing", "manual"),
        (today, "Engagement definition version 2", "engagement_definition"),
    ]
    # Version 1 is where the numbers start, not a change; the 30-day-old note is outside.
    other = await create_site(engine=engine, domain="other.example")
    assert not await delete_annotation(engine=engine, site_id=other.id, annotation_id=first)
    assert await delete_annotation(engine=engine, site_id=site.id, annotation_id=first)
    found = await list_annotations(engine=engine, site_id=site.id, days=week, timezone="UTC")
    assert [a.kind for a in found] == ["engagement_definition"]


async def test_a_new_consent_notice_is_noted_on_its_local_day(overt: Overt) -> None:
    engine, site = overt.resources.engine, overt.site
    today = datetime.now(UTC).date()
    late = datetime.combine(today - timedelta(days=1), time(23, 30), UTC)
    async with engine.begin() as conn:
        await create_default_notice(conn=conn, site_id=site.id, now=late - timedelta(days=9))
    await publish_notice(engine=engine, site_id=site.id, texts={"analytics": "New"}, now=late)
    week = (today - timedelta(days=6), today)
    in_utc = await list_annotations(engine=engine, site_id=site.id, days=week, timezone="UTC")
    assert [(a.day, a.text) for a in in_utc] == [
        (today - timedelta(days=1), "Consent notice version 2")
    ]
    # 23:30 UTC is half past midnight in Berlin: the next day there.
    in_berlin = await list_annotations(
        engine=engine, site_id=site.id, days=week, timezone="Europe/Berlin"
    )
    assert [(a.day, a.kind) for a in in_berlin] == [(today, "consent_notice")]
