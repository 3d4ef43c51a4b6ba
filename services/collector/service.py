"""Event intake: validation, site and origin checks, enrichment, visitor hash, queueing."""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import msgspec
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from services.collector import plausible
from services.collector.enrich import (
    DIRECT,
    Device,
    PageUrl,
    Referral,
    Refused,
    classify_referrer,
    classify_user_agent,
    parse_page_url,
)
from services.collector.exceptions import (
    BadJson,
    InvalidEvent,
    QueueBusy,
    RateLimited,
    UnknownSite,
    UnsupportedMediaType,
    WrongOrigin,
)
from services.collector.geo import NOWHERE, Geo, Place
from services.collector.records import QueuedEvent, encode_entry
from services.collector.salts import DailySalt, keyed_hasher
from services.collector.schemas import (
    HEX32,
    HEX32_PATTERN,
    SITE_ID,
    SITE_ID_PATTERN,
    EventIn,
    decoder,
    pattern_error,
)
from services.collector.storable import (
    UNSTORABLE_REASON,
    PropValue,
    clamp,
    storable,
    storable_props,
)
from shared.consent_tokens import RevocationNotifier, check_linkable
from shared.keys import LiveKey, MissingKey, OtherSite
from shared.metrics import (
    CONSENT_CHECKS,
    EVENTS_ACCEPTED,
    EVENTS_DROPPED_BOTS,
    EVENTS_GPC,
    EVENTS_WITHHELD,
)
from shared.queue import EventQueue, QueueUnavailable
from shared.sites import Site, get_site, get_site_by_domain

log = logging.getLogger("overt.collector")

SITE_CACHE_SECONDS = 30.0
PAST_LIMIT_MS = 24 * 3600 * 1000  # buffered consent replays may be this old
FUTURE_LIMIT_MS = 5 * 60 * 1000  # client clocks run fast
ACCEPTED_TYPES = frozenset({"text/plain", "application/json", ""})
MAX_DOMAIN_LOOKUPS = 10  # per /api/event body: each unknown domain costs a query
# The snippet's own event names, storable: most events' names skip the check.
SNIPPET_NAMES = frozenset({"pageview", "engagement"})
BURST_SECONDS = 2.0  # a site's rate limit lets this many seconds' worth through at once


@dataclass(slots=True)
class SiteCache:
    """Sites by id (and by domain), held briefly so intake does not query the database per event."""

    engine: AsyncEngine
    entries: dict[str, tuple[float, Site | None]] = field(default_factory=dict)
    domains: dict[str, tuple[float, Site | None]] = field(default_factory=dict)  # by domain

    def fresh(self, site_id: str, now: float) -> Site | None:
        """The cached site if it is fresh at `now` (time.monotonic(): the caller's, read once
        per request); no coroutine call on the hot path."""
        hit = self.entries.get(site_id)
        if hit is not None and now - hit[0] < SITE_CACHE_SECONDS:
            return hit[1]
        return None

    async def get(self, site_id: str) -> Site | None:
        now = time.monotonic()
        hit = self.entries.get(site_id)
        if hit is not None and now - hit[0] < SITE_CACHE_SECONDS:
            return hit[1]
        site = await get_site(engine=self.engine, site_id=site_id)
        if len(self.entries) > 10_000:
            self.entries.clear()
        self.entries[site_id] = (now, site)
        return site

    async def by_domain(self, domain: str) -> Site | None:
        """The site registered for a domain (Plausible's senders name sites so)."""
        now = time.monotonic()
        hit = self.domains.get(domain)
        if hit is not None and now - hit[0] < SITE_CACHE_SECONDS:
            return hit[1]
        site = await get_site_by_domain(engine=self.engine, domain=domain)
        if len(self.domains) > 10_000:
            self.domains.clear()
        self.domains[domain] = (now, site)
        if site is not None:
            if len(self.entries) > 10_000:
                self.entries.clear()
            self.entries[site.id] = (now, site)
        return site


def visitor_hash(*, salt: bytes, site_id: str, ip: str, user_agent: str) -> int:
    """H(daily salt, site, IP, User-Agent) as a signed 64-bit integer; IP and UA are not kept."""
    return _visitor_hash(keyed_hasher(salt), f"{site_id}\x00{ip}", _hash_tail(user_agent))


def _hash_tail(user_agent: str) -> bytes:
    return f"\x00{user_agent}".encode()


# 8 digest bytes -> a signed 64-bit integer
_INT64: Callable[[bytes], tuple[int]] = struct.Struct(">q").unpack


def _visitor_hash(keyed: Any, head: str, tail: bytes) -> int:
    """visitor_hash's BLAKE2b of f"{site}\\0{ip}" then `tail` (the request's, derived once
    per distinct User-Agent: see ClientFacts), from a copy of the salt's keyed hasher
    (intake's: DailySalt.keyed): keying it anew is a compression of the key block."""
    hasher = keyed.copy()
    hasher.update(head.encode())
    hasher.update(tail)
    return _INT64(hasher.digest())[0]


@dataclass(slots=True)
class RateLimiter:
    """Per site in this process: its `events_per_second`, in bursts of up to BURST_SECONDS'
    worth. A token bucket kept as one number per site (GCRA): when the events allowed so
    far would all have been spent at the site's rate. An event is allowed while that stays
    within BURST_SECONDS of now; a refused one spends nothing."""

    due: dict[str, float] = field(default_factory=dict)  # site id -> that time (monotonic)

    def allow(self, site: Site, cost: int, now: float) -> bool:
        due = self.due.get(site.id, now)
        if due < now:
            due = now  # an idle bucket is full, no fuller
        due += cost / site.events_per_second
        if due - now > BURST_SECONDS:
            return False
        self.due[site.id] = due
        return True


@dataclass(frozen=True, slots=True)
class ClientFacts:
    """What /e derives from a request's headers, the IP aside. Used, never stored.

    A site's traffic repeats a small set of header values (browsers, origins), so these are
    derived once per distinct set (`client_facts`) and shared by its requests."""

    content_type: str  # the media type alone, lowercased
    origin_host: str | bool | None  # see _origin_host
    device: Device
    hash_tail: bytes  # the visitor hash's input after the IP: NUL and the User-Agent
    gpc_header: bool  # Sec-GPC: 1
    country: str | None
    # A record with what these facts put on every event (the device's fields and the GPC
    # header's): each event's record is a copy of it (see _record). Its own fields are blank.
    template: QueuedEvent


@lru_cache(maxsize=2048)
def client_facts(
    content_type: bytes,
    origin: bytes | None,
    user_agent: bytes,
    sec_gpc: bytes | None,
    country: bytes | None,
) -> ClientFacts:
    """ClientFacts from raw header values (None: absent). Positional arguments only:
    lru_cache builds a slower key for keyword ones."""
    ua = user_agent.decode("latin-1")
    code = country.decode("latin-1") if country else ""
    device = classify_user_agent(ua)
    gpc_header = sec_gpc is not None and sec_gpc.strip() == b"1"
    return ClientFacts(
        content_type=content_type.decode("latin-1").split(";", 1)[0].strip().lower(),
        origin_host=_origin_host(origin.decode("latin-1") if origin is not None else None),
        device=device,
        hash_tail=_hash_tail(ua),
        gpc_header=gpc_header,
        country=code.upper() if len(code) == 2 and code.isascii() and code.isalpha() else None,
        template=record_template(device, gpc_header),
    )


def record_template(device: Device, gpc_header: bool) -> QueuedEvent:
    """The record every event of this device and GPC header starts from (see _record)."""
    return QueuedEvent(
        event_id="",
        site_id="",
        at=0,
        name="",
        visitor_hash=0,
        host="",
        path="",
        browser=device.browser,
        os=device.os,
        browser_version=device.browser_version,
        os_version=device.os_version,
        device=device.device,
        gpc=gpc_header,
    )


@dataclass(frozen=True, slots=True)
class Visitor:
    """Whom a backend's event is about, as the backend says. Used, never stored."""

    facts: ClientFacts  # the request's, with the visitor's device and hash input, no country
    identity: str  # the visitor's IP; its analytics id ("a:" + hex) when no IP was given
    ip: str | None  # the visitor's IP, when given (for its place)
    is_bot: bool  # the User-Agent the backend gave for its visitor is a crawler's


@dataclass(frozen=True, slots=True)
class Backend:
    """A server-side sender, authenticated by its ingest key, and what its request says of
    its visitors besides the body (Plausible's Events API: the headers below)."""

    key: LiveKey
    forwarded_for: str | None  # X-Forwarded-For's first address, as sent
    user_agent: str  # the User-Agent header


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """What verifying a consent token needs: the server secret and the revocation feed."""

    secret: bytes
    revocations: RevocationNotifier


@dataclass(slots=True)
class Intake:
    """Everything `/e` needs, built once per process."""

    sites: SiteCache
    salt: DailySalt
    queue: EventQueue
    tokens: TokenCheck | None = None
    limiter: RateLimiter = field(default_factory=RateLimiter)
    geo: Geo = field(default_factory=Geo)

    def take(self, body: bytes, facts: ClientFacts, ip: str) -> Coroutine[Any, Any, int]:
        """Validate, enrich and durably queue a body of events; awaited, how many were queued.

        All or nothing: any invalid event refuses the whole body with a problem (raised here
        when the body is refused as a whole, else when awaited). Events from bots and
        crawlers are answered like the others but not queued. Not a coroutine function
        itself: the caller awaits `_take` directly, one coroutine less per request, and
        each request's task passes through every coroutine in its chain again when its
        queue entry is acknowledged.
        """
        if facts.content_type not in ACCEPTED_TYPES:
            raise UnsupportedMediaType()
        try:
            decoded = decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise InvalidEvent(str(exc)) from None
        except (msgspec.DecodeError, UnicodeDecodeError):  # bad UTF-8 inside a string: the latter
            raise BadJson() from None
        # type() is, not isinstance: a failed isinstance looks __class__ up too (here and
        # below, on every /e request).
        if type(decoded) is list:
            return self._take(decoded, _at_batch, facts, ip)
        return self._take_one(decoded, facts, ip)

    async def take_plausible(
        self, body: bytes, facts: ClientFacts, ip: str, backend: Backend | None
    ) -> int:
        """POST /api/event: what Plausible's tracker and Events API send (plausible.py),
        and backends' server-side events with an ingest key; returns how many were queued.

        Steps: the media type; decoding; each event translated; its site, the first of its
        domains registered (with a key, it must be the key's); its visitor; then `_take`'s.
        Without a key these are /e's rules unchanged: the request's IP and User-Agent, the
        Origin checked, bots dropped. With one, see `_visitor`.
        """
        if facts.content_type not in ACCEPTED_TYPES:
            raise UnsupportedMediaType()
        try:
            decoded = plausible.decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise InvalidEvent(str(exc)) from None
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise BadJson() from None
        sent = decoded if isinstance(decoded, list) else [decoded]
        many = isinstance(decoded, list)
        translated = [
            plausible.translate(event, f"$[{index}]" if many else "$")
            for index, event in enumerate(sent)
        ]
        batch: list[EventIn] = []
        visitors: list[Visitor] | None = None if backend is None else []
        found: dict[str, Site | None] = {}  # this request's lookups, bounded
        for item in translated:
            site = await self._site_for_domains(item.domains, found)
            if backend is None:
                if item.ip is not None or item.user_agent is not None:
                    raise MissingKey(BACKEND_FIELDS_NEED_A_KEY)
            else:
                if site.id != backend.key.site_id:
                    raise OtherSite()
                assert visitors is not None
                visitors.append(_visitor(item, backend, facts))
            batch.append(msgspec.structs.replace(item.event, site_id=site.id))

        def locate(index: int, key: str) -> str:
            return translated[index].where[key]

        return await self._take(batch, locate, facts, ip, visitors)

    async def _site_for_domains(
        self, domains: tuple[str, ...], found: dict[str, Site | None]
    ) -> Site:
        """The first of these domains that names a registered site (as Plausible's roll-up
        lists several sites, and Overt stores an event once). `found` holds the request's
        lookups: a body may not make intake look up more than MAX_DOMAIN_LOOKUPS domains."""
        for domain in domains:
            if domain not in found:
                if len(found) >= MAX_DOMAIN_LOOKUPS:
                    raise InvalidEvent(
                        f"Expected at most {MAX_DOMAIN_LOOKUPS} distinct domains in one body"
                    )
                found[domain] = await self.sites.by_domain(domain)
            site = found[domain]
            if site is not None:
                return site
        raise UnknownSite(
            "No site is registered for this domain; register it with `overt site add`."
        )

    async def _take(
        self,
        batch: list[EventIn],
        locate: Callable[[int, str], str],
        facts: ClientFacts,
        ip: str,
        visitors: Sequence[Visitor] | None = None,
    ) -> int:
        """Intake's steps after decoding, in this order: per event, the site (cached, else
        looked up) and the Origin; the analytics id; name, URL, referrer and props storable;
        the URL on the site's hosts; the visitor hash (one per site and request, or per event
        from `visitors`: a backend's); its place (geo.py: once per request, or per visitor of
        a backend's), the IP's last use; the record. Then bots dropped (all of a browser's
        request, or a backend's events whose visitor is one), and before them the events of a
        site that requires consent sent without analytics consent (`a` or `c`), counted in a
        total and stored nowhere; consent tokens checked (unless
        GPC); the rate limit; one queue entry. `locate(index, key)` says where a v1 key of
        an event is in the body, for refusals.
        """
        now = time.time()
        now_ms = int(now * 1000)
        now_monotonic = time.monotonic()  # the site cache's and the rate limit's
        origin_host = facts.origin_host
        records: list[QueuedEvent] = []
        tokens = gpc_events = 0  # counted here: a pass less over the batch
        hashes: dict[str, int] = {}
        checked: dict[str, Site] = {}
        place = self.geo.locate(ip, facts.country) if visitors is None else NOWHERE
        withheld: list[int] = []  # events of sites requiring consent, sent without it
        for index, event in enumerate(batch):
            site = checked.get(event.site_id)
            if site is None:
                site = self.sites.fresh(event.site_id, now_monotonic)
                if site is None:
                    site = await self._site(event.site_id, origin_host, locate(index, "s"))
                else:
                    _allowed(site, origin_host)
                checked[site.id] = site
            page, referral = _event_rules(event, site, locate, index)
            if site.consent_required and not event.has_analytics_consent:
                withheld.append(index)
            if visitors is None:
                if site.id not in hashes:
                    # Today's salt without a coroutine call, the day's first request aside.
                    keyed = (
                        self.salt.keyed if now < self.salt.until else await self.salt.keyed_at(now)
                    )
                    hashes[site.id] = _visitor_hash(keyed, f"{site.id}\x00{ip}", facts.hash_tail)
                records.append(
                    _record(event, site, page, referral, hashes[site.id], facts, place, now_ms)
                )
            else:
                visitor = visitors[index]
                keyed = self.salt.keyed if now < self.salt.until else await self.salt.keyed_at(now)
                hashed = _visitor_hash(
                    keyed, f"{site.id}\x00{visitor.identity}", visitor.facts.hash_tail
                )
                located = self.geo.locate(visitor.ip) if visitor.ip else NOWHERE
                records.append(
                    _record(event, site, page, referral, hashed, visitor.facts, located, now_ms)
                )
            if event.consent_token:
                tokens += 1
            if event.gpc:
                gpc_events += 1
        if withheld:
            # Consent required and not given: stored nowhere, only counted in a total.
            EVENTS_WITHHELD.inc(len(withheld))
            skipped = set(withheld)
            kept = [index for index in range(len(records)) if index not in skipped]
            batch = [batch[index] for index in kept]
            records = [records[index] for index in kept]
            if visitors is not None:
                visitors = [visitors[index] for index in kept]
            tokens = sum(1 for event in batch if event.consent_token)
            gpc_events = sum(1 for event in batch if event.gpc)
            if not records:
                return 0
        if visitors is not None:
            kept = [index for index, visitor in enumerate(visitors) if not visitor.is_bot]
            if len(kept) < len(records):
                EVENTS_DROPPED_BOTS.inc(len(records) - len(kept))
                batch = [batch[index] for index in kept]
                records = [records[index] for index in kept]
                tokens = sum(1 for event in batch if event.consent_token)
                if not records:
                    return 0
        elif facts.device.is_bot:
            EVENTS_DROPPED_BOTS.inc(len(records))
            return 0
        if tokens:
            if not (facts.gpc_header or gpc_events):
                await self._link_subjects(batch, records)
            else:
                CONSENT_CHECKS.labels("gpc").inc(tokens)  # GPC opts out of identification
        for site in checked.values():
            cost = (
                len(records)
                if len(checked) == 1
                else sum(1 for record in records if record.site_id == site.id)
            )
            if not self.limiter.allow(site, cost, now_monotonic):
                raise RateLimited()
        try:
            if visitors is None and len(hashes) == 1:  # /e: one site, one visitor
                ((site_id, visitor_hash),) = hashes.items()
                await self.queue.publish(encode_entry(records), visitor=(site_id, visitor_hash))
            else:
                # One entry per visitor: each travels in its visitor's slice (shared.queue).
                by_visitor: dict[tuple[str, int], list[QueuedEvent]] = {}
                for record in records:
                    by_visitor.setdefault((record.site_id, record.visitor_hash), []).append(record)
                await asyncio.gather(
                    *(
                        self.queue.publish(encode_entry(part), visitor=key)
                        for key, part in by_visitor.items()
                    )
                )
        except QueueUnavailable:
            raise QueueBusy() from None
        EVENTS_ACCEPTED.inc(len(records))
        gpc = len(records) if facts.gpc_header else gpc_events
        if gpc:
            EVENTS_GPC.inc(gpc)
        return len(records)

    async def _take_one(self, event: EventIn, facts: ClientFacts, ip: str) -> int:
        """`_take` for a body of one event from a browser, /e's usual request: the same
        steps in the same order, without the lists and per-site tallies a batch needs
        (about 4% of a /e request's instructions). The event's rules are `_event_rules`,
        as for a batch; what differs is only that there is one of everything, and that a
        withheld or bot event is dropped before its hash, place and record are made."""
        now = time.time()
        now_monotonic = time.monotonic()
        site = self.sites.fresh(event.site_id, now_monotonic)
        if site is None:
            site = await self._site(event.site_id, facts.origin_host, "$.s")
        else:
            _allowed(site, facts.origin_host)
        page, referral = _event_rules(event, site, _at_single, 0)
        if site.consent_required and not event.has_analytics_consent:
            EVENTS_WITHHELD.inc(1)  # consent required and not given: stored nowhere
            return 0
        if facts.device.is_bot:
            EVENTS_DROPPED_BOTS.inc(1)
            return 0
        keyed = self.salt.keyed if now < self.salt.until else await self.salt.keyed_at(now)
        hashed = _visitor_hash(keyed, f"{site.id}\x00{ip}", facts.hash_tail)
        place = self.geo.locate(ip, facts.country)
        record = _record(event, site, page, referral, hashed, facts, place, int(now * 1000))
        if event.consent_token:
            if not (facts.gpc_header or event.gpc):
                await self._link_subjects([event], [record])
            else:
                CONSENT_CHECKS.labels("gpc").inc(1)  # GPC opts out of identification
        if not self.limiter.allow(site, 1, now_monotonic):
            raise RateLimited()
        try:
            await self.queue.publish(encode_entry([record]), visitor=(site.id, hashed))
        except QueueUnavailable:
            raise QueueBusy() from None
        EVENTS_ACCEPTED.inc(1)
        if facts.gpc_header or event.gpc:
            EVENTS_GPC.inc(1)
        return 1

    async def _link_subjects(self, batch: list[EventIn], records: list[QueuedEvent]) -> None:
        """Tier 2: link an event to its subject only for a valid, unrevoked consent token.

        Global Privacy Control is an opt-out of identification, so the caller skips this
        under GPC. A token that fails any check is ignored: the event stays anonymous.
        """
        if self.tokens is None:
            return
        for event, record in zip(batch, records, strict=True):
            if not event.consent_token:
                continue
            claims, result = await check_linkable(
                event.consent_token,
                site_id=record.site_id,
                secret=self.tokens.secret,
                revocations=self.tokens.revocations,
            )
            CONSENT_CHECKS.labels(result).inc()
            if claims is not None:
                record.subject_id = claims.subject_id

    async def _site(self, site_id: str, origin_host: str | bool | None, where: str) -> Site:
        """A site not in the cache (or stale there), looked up; `where` its id is in the body."""
        if not SITE_ID.fullmatch(site_id):
            raise InvalidEvent(pattern_error(SITE_ID_PATTERN, where))
        site = await self.sites.get(site_id)
        if site is None:
            raise UnknownSite()
        return _allowed(site, origin_host)


BACKEND_FIELDS_NEED_A_KEY = (
    "`ip` and `user_agent` are taken only from a backend with an ingest key: "
    "send 'Authorization: Bearer <key>' (a key with the events:write scope)."
)


def _visitor(item: plausible.Translated, backend: Backend, facts: ClientFacts) -> Visitor:
    """Whom a backend's event is about: the IP from `ip`, else X-Forwarded-For (as Plausible's
    Events API takes it), else the tier-1 analytics id; the User-Agent from `user_agent`, else
    the header. Never dropped for the header, which may be the HTTP client's own (curl,
    python-httpx): only a `user_agent` the backend gave as its visitor's is checked for
    crawlers. The country header describes the backend's connection, not the visitor: the
    visitor's place is looked up from its IP alone."""
    identity = item.ip or backend.forwarded_for
    if identity is not None:
        if not plausible.is_ip(identity):
            raise InvalidEvent("Expected an IPv4 or IPv6 address - at `X-Forwarded-For`")
    elif item.event.analytics_id is not None:
        identity = "a:" + item.event.analytics_id.lower()
    else:
        raise InvalidEvent(
            "A server-side event needs its visitor's IP (`ip` or X-Forwarded-For) or an "
            f"`analytics_id` - at `{item.where['s'].rsplit('.', 1)[0]}`"
        )
    user_agent = item.user_agent if item.user_agent is not None else backend.user_agent
    device = classify_user_agent(user_agent)
    return Visitor(
        facts=replace(
            facts,
            device=device,
            hash_tail=_hash_tail(user_agent),
            country=None,
            template=record_template(device, facts.gpc_header),
        ),
        identity=identity,
        ip=None if identity.startswith("a:") else identity,
        is_bot=item.user_agent is not None and device.is_bot,
    )


def _event_rules(
    event: EventIn, site: Site, locate: Callable[[int, str], str], index: int
) -> tuple[PageUrl, Referral]:
    """An event's own rules, once its site is known: the analytics id's form; name, URL,
    referrer (pageviews') and props storable; the URL on the site's hosts. Its page and
    referral, or the refusal of the body (`locate(index, key)`: where a key of it is)."""
    if event.analytics_id is not None and not HEX32.fullmatch(event.analytics_id):
        raise InvalidEvent(pattern_error(HEX32_PATTERN, locate(index, "a")))
    if event.name not in SNIPPET_NAMES and not storable(event.name):
        raise InvalidEvent(_refusal(UNSTORABLE_REASON, locate(index, "n")))
    page = parse_page_url(event.url, bool(event.hash_routing))
    if type(page) is Refused:
        raise InvalidEvent(_refusal(page.reason, locate(index, "u")))
    referral = DIRECT
    if event.name == "pageview":
        classified = classify_referrer(event.referrer, page.host)
        if type(classified) is Refused:
            raise InvalidEvent(_refusal(classified.reason, locate(index, "r")))
        referral = classified
    if event.props and not _storable_props(event.props):
        raise InvalidEvent(_refusal(UNSTORABLE_REASON, locate(index, "p")))
    if not site.owns_host(page.host):
        raise WrongOrigin(site.domain)
    return page, referral


def _at_single(index: int, key: str) -> str:
    """Where a field of a body's one event is, as msgspec says it: $.s."""
    return f"$.{key}"


def _at_batch(index: int, key: str) -> str:
    """Where a field of an event in a batch (an array) is, as msgspec says it: $[2].s."""
    return f"$[{index}].{key}"


def _refusal(reason: str, where: str) -> str:
    """A refusal of intake's own in msgspec's words, so InvalidEvent points at the field."""
    return f"{reason} - at `{where}`"


def _storable_props(props: dict[str, PropValue]) -> bool:
    """No key or string value holds what a database cannot store (see storable.py). The
    schema bounds their number and lengths; the JSON column has no length of its own."""
    return all(
        storable(key) and (not isinstance(value, str) or storable(value))
        for key, value in props.items()
    )


def _allowed(site: Site, origin_host: str | bool | None) -> Site:
    # No Origin header (server-side senders) is allowed; a foreign or opaque one is not.
    if origin_host is not None and not (
        isinstance(origin_host, str) and site.owns_host(origin_host)
    ):
        raise WrongOrigin(site.domain)
    return site


def _origin_host(origin: str | None) -> str | bool | None:
    """The Origin header's host; None when absent; False when opaque ("null") or unparsable.
    Called only through client_facts, whose cache holds the result per header set."""
    if origin is None:
        return None
    if origin == "null":
        return False
    try:  # urllib raises ValueError for an unclosed "[" and the like: not an origin then
        return urlsplit(origin).hostname or False
    except ValueError:
        return False


def _record(
    event: EventIn,
    site: Site,
    page: PageUrl,
    referral: Referral,
    visitor: int,
    facts: ClientFacts,
    place: Place,
    now_ms: int,
) -> QueuedEvent:
    at = now_ms
    if event.client_time_ms is not None:
        at = min(max(event.client_time_ms, now_ms - PAST_LIMIT_MS), now_ms + FUTURE_LIMIT_MS)
    # From the request's template (its device and GPC header, made once per header set):
    # the event's own fields as keywords cost far less than building all of a record's
    # anew, and its place's three cost less here than set on the copy (each a setattr).
    record = msgspec.structs.replace(
        facts.template,
        event_id=event.event_id,
        site_id=site.id,
        at=at,
        name=event.name,
        visitor_hash=visitor,
        host=page.host,
        path=page.path,
        country=place.country,
        region=place.region,
        city=place.city,
    )
    if event.gpc:
        record.gpc = True
    if event.props:
        record.props = orjson.dumps(storable_props(event.props)).decode()
    if event.analytics_id:
        record.analytics_id = event.analytics_id.lower()
    if event.name == "pageview":
        record.referrer, record.source, record.medium = (
            referral.url,
            referral.source,
            referral.medium,
        )
        if page.utm:
            for name, value in page.utm.items():
                setattr(record, name, value)
            if "utm_source" in page.utm and referral.medium == "direct":
                record.source, record.medium = clamp("source", page.utm["utm_source"]), "campaign"
    elif event.name == "engagement":
        record.pageview_id = event.pageview_id
        record.engaged_ms = event.engaged_ms or 0
        record.scroll_depth = event.scroll_depth
    return record
