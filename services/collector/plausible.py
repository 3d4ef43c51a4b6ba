"""Plausible's wire format on POST /api/event, translated into wire v1 events (see WIRE.md).

Three senders use it, and all three are read here:

- Plausible's tracker (its script and the npm package `@plausible-analytics/tracker`):
  `text/plain` JSON with short keys, `{"n", "u", "d", "r", "p", "$", "i", "h", "v"}`, and
  for engagement `{"n": "engagement", "e": ms, "sd": scroll %}`;
- Plausible's Events API (backends): `application/json` with long keys, `{"name", "url",
  "domain", "referrer", "props", "revenue", "interactive"}`, the visitor's IP and User-Agent
  in `X-Forwarded-For` and `User-Agent`;
- Overt's additions for backends with an ingest key: `id` (a retry is stored once),
  `ip` and `user_agent` (as Umami v3 takes them), `analytics_id`, `consent_token`.

The translation is pure (no site, no key, no clock): a `Translated` is a v1 `EventIn` whose
site is still to be found by its domain, and what intake needs besides. What the v1 schema
bounds is bounded the same here; what Plausible tolerates, this tolerates too (props as a
JSON string, null or nested prop values dropped, unknown keys ignored).
"""

from __future__ import annotations

import ipaddress
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import msgspec

from services.collector.exceptions import InvalidEvent
from services.collector.schemas import MAX_BATCH, MAX_PROPS, EventIn, inline_schema
from services.collector.storable import LIMIT, UNSTORABLE_REASON, storable

# Plausible's names for the events Overt's snippet names itself (its reports use these).
BUILTIN_NAMES = {"Outbound Link: Click": "outbound", "File Download": "download"}
MAX_DOMAINS = 5
PROP_KEY_LENGTH = 64
PROP_VALUE_LENGTH = 256

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=LIMIT["name"])]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
Domain = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
Referrer = Annotated[str, msgspec.Meta(max_length=2048)]
# Props: an object (the tracker) or its JSON text (Plausible's older script sent `m` so).
Props = Annotated[dict[str, Any], msgspec.Meta(max_length=4 * MAX_PROPS)] | str


class Revenue(msgspec.Struct, frozen=True):
    """Plausible's revenue: an amount (a number or its decimal text) in an ISO 4217 currency."""

    amount: Annotated[str, msgspec.Meta(max_length=64)] | float
    currency: Annotated[str, msgspec.Meta(min_length=3, max_length=3)]


class PlausibleEventIn(msgspec.Struct, frozen=True):
    """One event as Plausible's tracker (short keys) or its Events API (long keys) sends it.

    Unknown keys are ignored: the tracker sends its version (`v`), older scripts the screen
    width (`w`), and the tracker's `transformRequest` hook may add anything."""

    n: Name | None = None
    name: Name | None = None
    u: Url | None = None
    url: Url | None = None
    d: Domain | None = None
    domain: Domain | None = None
    r: Referrer | None = None
    referrer: Referrer | None = None
    p: Props | None = None
    props: Props | None = None
    m: Props | None = None
    meta: Props | None = None
    dollar: Revenue | str | None = msgspec.field(default=None, name="$")
    revenue: Revenue | str | None = None
    i: bool | None = None
    interactive: bool | None = None
    h: bool | Annotated[int, msgspec.Meta(ge=0, le=1)] | None = None
    # engagement: engaged ms since the last report, and the deepest scroll in %
    e: Annotated[int, msgspec.Meta(ge=0, le=86_400_000)] | None = None
    sd: int | None = None
    # Overt's, for backends
    id: uuid.UUID | None = None
    ip: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    user_agent: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    analytics_id: Annotated[str, msgspec.Meta(min_length=32, max_length=32)] | None = None
    consent_token: Annotated[str, msgspec.Meta(max_length=2048)] | None = None


Body = (
    PlausibleEventIn
    | Annotated[list[PlausibleEventIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]
)

decoder = msgspec.json.Decoder(Body)
_props_decoder = msgspec.json.Decoder(dict[str, Any])
_revenue_decoder = msgspec.json.Decoder(Revenue)


@dataclass(frozen=True, slots=True)
class Translated:
    """A Plausible event as a v1 event (its site id still empty) and what intake needs besides."""

    event: EventIn
    domains: tuple[str, ...]  # the candidates, in the sender's order, normalised
    ip: str | None  # the visitor's, from the body (backends with an ingest key only)
    user_agent: str | None  # likewise
    where: dict[str, str]  # v1 key -> where the sender put it ("$.url", "$[3].u")


def translate(event: PlausibleEventIn, at: str) -> Translated:
    """The v1 event for one Plausible event found at `at` ("$" or "$[3]"); InvalidEvent
    (422, at the field as the sender spelled it) for what cannot be taken."""
    name, name_key = _first(event, ("n", "name"))
    url, url_key = _first(event, ("u", "url"))
    domain, domain_key = _first(event, ("d", "domain"))
    referrer, referrer_key = _first(event, ("r", "referrer"))
    raw_props, props_key = _first(event, ("p", "props", "m", "meta"))
    raw_revenue, revenue_key = _first(event, ("dollar", "revenue"))
    where = {
        "s": f"{at}.{domain_key}",
        "a": f"{at}.analytics_id",
        "n": f"{at}.{name_key}",
        "u": f"{at}.{url_key}",
        "r": f"{at}.{referrer_key}",
        "p": f"{at}.{props_key}",
    }
    if name is None:
        raise InvalidEvent(f"Object missing required field `n` - at `{at}`")
    if url is None:
        raise InvalidEvent(f"Object missing required field `u` - at `{at}`")
    domains = _domains(domain)
    if not domains:
        raise InvalidEvent(f"Expected a domain or a comma-separated list - at `{at}.{domain_key}`")
    if event.analytics_id is not None and not _is_hex(event.analytics_id):
        raise InvalidEvent(f"Expected 32 hex characters - at `{at}.analytics_id`")
    if event.ip is not None and not is_ip(event.ip):
        raise InvalidEvent(f"Expected an IPv4 or IPv6 address - at `{at}.ip`")
    name = BUILTIN_NAMES.get(name, name)
    props = None if name == "engagement" else _props(raw_props, where["p"])
    if raw_revenue is not None:
        revenue_at = f"{at}.{'$' if revenue_key == 'dollar' else 'revenue'}"
        amount, currency = _revenue(raw_revenue, revenue_at)
        props = {**(props or {}), "revenue_amount": amount, "revenue_currency": currency}
    engagement = name == "engagement"
    translated = EventIn(
        site_id="",
        event_id=event.id or uuid.uuid4(),
        name=name,
        url=url,
        referrer=referrer,
        engaged_ms=(event.e or 0) if engagement else None,
        scroll_depth=min(max(event.sd, 0), 100) if engagement and event.sd is not None else None,
        props=props or None,
        analytics_id=event.analytics_id,
        hash_routing=1 if event.h else None,
        consent_token=event.consent_token,
    )
    return Translated(
        event=translated,
        domains=domains,
        ip=event.ip,
        user_agent=event.user_agent,
        where=where,
    )


def _first(event: PlausibleEventIn, keys: tuple[str, ...]) -> tuple[Any, str]:
    """The first of `keys` the sender set, and its key as sent (the first key when none)."""
    for key in keys:
        value = getattr(event, key)
        if value is not None:
            return value, key
    return None, keys[0]


def _domains(raw: str | None) -> tuple[str, ...]:
    """`d`, a domain or a comma-separated list (Plausible's roll-up), normalised as sites'
    domains are: lowercase, no scheme, port, path or leading `www.`."""
    if not raw:
        return ()
    domains: list[str] = []
    for part in raw.split(",")[:MAX_DOMAINS]:
        domain = part.strip().lower()
        if "://" in domain:
            domain = domain.split("://", 1)[1]
        domain = domain.split("/", 1)[0].split(":", 1)[0].removeprefix("www.")
        if domain and domain not in domains:
            domains.append(domain)
    return tuple(domains)


def _props(raw: dict[str, Any] | str | None, where: str) -> dict[str, str | float | bool] | None:
    """Custom props, typed as sent (numbers stay numbers); as Plausible does, a null, empty,
    list or object value is dropped. Bounded as the v1 `p` is."""
    if raw is None:
        return None
    if isinstance(raw, str):
        if not raw.strip():
            return None
        try:
            raw = _props_decoder.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise InvalidEvent(f"Expected an object or its JSON text - at `{where}`") from None
    props: dict[str, str | float | bool] = {}
    for key, value in raw.items():
        if value is None or value == "" or isinstance(value, (list, dict)):
            continue
        if not storable(key):
            raise InvalidEvent(f"{UNSTORABLE_REASON} - at `key` in `{where}`")
        if not 1 <= len(key) <= PROP_KEY_LENGTH:
            raise InvalidEvent(
                f"Expected a key of 1 to {PROP_KEY_LENGTH} characters - at `key` in `{where}`"
            )
        if isinstance(value, str) and len(value) > PROP_VALUE_LENGTH:
            raise InvalidEvent(
                f"Expected a value of at most {PROP_VALUE_LENGTH} characters - at `{where}`"
            )
        props[key] = value
    if len(props) > MAX_PROPS:
        raise InvalidEvent(f"Expected at most {MAX_PROPS} props - at `{where}`")
    return props


def _revenue(raw: Revenue | str, where: str) -> tuple[float, str]:
    """Amount and currency of Plausible's revenue (or its JSON text)."""
    if isinstance(raw, str):
        try:
            raw = _revenue_decoder.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise InvalidEvent(
                f"Expected {{amount, currency}} or its JSON text - at `{where}`"
            ) from None
    amount: float | None
    if isinstance(raw.amount, str):
        try:
            number = Decimal(raw.amount.strip())
            amount = float(number) if number.is_finite() else None
        except InvalidOperation:
            amount = None
    else:
        amount = float(raw.amount)
    if amount is None or not math.isfinite(amount):
        raise InvalidEvent(f"Expected a finite number - at `{where}.amount`")
    currency = raw.currency
    if not (currency.isascii() and currency.isalpha()):
        raise InvalidEvent(f"Expected an ISO 4217 currency code - at `{where}.currency`")
    return amount, currency.upper()


def _is_hex(text: str) -> bool:
    return text.isascii() and all(char in "0123456789abcdefABCDEF" for char in text)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def body_schema() -> dict[str, Any]:
    """JSON Schema of the body, for the OpenAPI document."""
    return inline_schema(Body)
