"""A site that requires consent (`overt site set --consent-required`): the collector stores
nothing of an event sent without analytics consent, whoever sent it (a stale tag without
data-consent, a copied snippet, a script posting by hand), and stores as usual what comes
with it: the tier-1 id `a`, or the snippet's `c: 1` (consent given where the browser keeps
no storage). Withheld events are answered like the others (202, nothing to retry) and only
counted in a process total."""

from __future__ import annotations

import uuid

import pytest

from shared.metrics import EVENTS_WITHHELD
from shared.sites import SiteSettings, create_site
from tests.helpers.capture import stored
from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio


async def requiring_site(overt: Overt) -> str:
    site = await create_site(
        engine=overt.resources.engine,
        domain="shop.example.org",
        settings=SiteSettings(consent_required=True),
    )
    return site.id


def event(site_id: str, **fields: object) -> dict[str, object]:
    return {
        "s": site_id,
        "i": uuid.uuid4().hex,
        "n": "pageview",
        "u": "https://shop.example.org/pricing",
    } | fields


async def test_without_consent_nothing_is_stored(overt: Overt) -> None:
    site_id = await requiring_site(overt)
    before = EVENTS_WITHHELD.value
    response = await overt.send(
        [event(site_id), event(site_id, n="Signup", p={"plan": "team"})],
        origin="https://shop.example.org",
    )
    assert response.status_code == 202
    assert await stored(overt) == []
    assert EVENTS_WITHHELD.value - before == 2


async def test_with_analytics_consent_events_are_stored(overt: Overt) -> None:
    site_id = await requiring_site(overt)
    analytics_id = uuid.uuid4().hex
    response = await overt.send(
        [
            event(site_id, a=analytics_id),
            event(site_id, c=1),  # consent given, storage blocked: no `a`
            event(site_id, c=0),  # not consent: withheld
            event(site_id),  # withheld
        ],
        origin="https://shop.example.org",
    )
    assert response.status_code == 202
    rows = await stored(overt)
    assert len(rows) == 2
    assert {row["path"] for row in rows} == {"/pricing"}


async def test_a_site_without_the_setting_still_counts_tier_0(overt: Overt) -> None:
    """The default: anonymous tier-0 events are counted beside a requiring site's."""
    site_id = await requiring_site(overt)
    response = await overt.send(overt.event())
    assert response.status_code == 202
    response = await overt.send([event(site_id)], origin="https://shop.example.org")
    assert response.status_code == 202
    rows = await stored(overt)
    assert [row["site_id"] for row in rows] == [overt.site.id]


async def test_consent_flag_is_validated(overt: Overt) -> None:
    site_id = await requiring_site(overt)
    response = await overt.send([event(site_id, c=2)], origin="https://shop.example.org")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_plausible_events_for_a_site_requiring_consent_are_withheld(overt: Overt) -> None:
    """Plausible's tracker knows no consent: its events are withheld; a backend's that
    carry the visitor's tier-1 id (`analytics_id`) are stored."""
    await requiring_site(overt)
    page = {"n": "pageview", "u": "https://shop.example.org/", "d": "shop.example.org"}
    response = await overt.client.post(
        "/api/event",
        json=page,
        headers={"origin": "https://shop.example.org", "user-agent": "Mozilla/5.0 Firefox/120"},
    )
    assert response.status_code == 202
    assert await stored(overt) == []
    response = await overt.client.post(
        "/api/event",
        json=page | {"analytics_id": uuid.uuid4().hex},
        headers={"origin": "https://shop.example.org", "user-agent": "Mozilla/5.0 Firefox/120"},
    )
    assert response.status_code == 202
    assert len(await stored(overt)) == 1
