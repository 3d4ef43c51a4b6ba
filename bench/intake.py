"""`make bench`: what intake's storability rules cost /e, as a same-run ratio.

The rules: every accepted event is storable on both databases (services/collector/
storable.py): client-controlled text with NUL or a lone surrogate is refused, what
enrichment derives (browser names, sources) is cleaned and cut to its column. Their cost is
measured in process, where it is not lost in the noise of a loaded HTTP server: the
collector's ASGI app is called directly (64 requests at a time, on uvloop, the queue in
Redis and the garbage collector tuned as `overt serve collector` has them), and the
process's CPU per request is compared with the same app whose character rules and clamps
are pass-throughs. (The length bounds stay: most are the wire schema's, checked by msgspec
as it decodes.) Rounds of the two alternate and each figure is the median of ROUNDS.

Three loads: wrk's (`make bench`'s /e single: one page, so the URL's parse and checks are
cached as on a site whose visitors read the same pages); one page reached from ads, each
URL and referrer with a click id of its own; and every request a new page and referrer,
so each URL is parsed and checked again.
"""

from __future__ import annotations

import asyncio
import gc
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median
from typing import Any

import orjson
import redis
import uvloop

import services.collector.enrich as enrich
import services.collector.service as service
from services.collector.app import create_app
from shared.app import asgi_app
from shared.db import create_engine
from shared.migrate import upgrade_head
from shared.runtime import tune_gc
from shared.settings import Settings
from shared.sites import SiteSettings, create_site

REDIS_URL = os.environ.get("OVERT_BENCH_REDIS", "redis://127.0.0.1:6379/0")
ROUNDS = 5  # per mode and load, alternating
REQUESTS = 20_000  # per round
CONCURRENT = 64  # requests in flight, as wrk's connections
UA = (
    b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/156.0 Safari/537.36"
)

ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def _passes(text: object) -> bool:
    return True


def _unchanged(*args: Any) -> Any:
    return args[-1]


# (module, name, pass-through): every place intake applies the rules.
PASS_THROUGHS = (
    (service, "storable", _passes),
    (service, "_storable_props", _passes),
    (service, "storable_props", _unchanged),
    (service, "clamp", _unchanged),
    (enrich, "storable", _passes),
    (enrich, "clamp", _unchanged),
    (enrich, "strip_unstorable", _unchanged),
)


@contextmanager
def rules_off() -> Iterator[None]:
    kept = [(module, name, getattr(module, name)) for module, name, _ in PASS_THROUGHS]
    for module, name, stand_in in PASS_THROUGHS:
        setattr(module, name, stand_in)
    try:
        yield
    finally:
        for module, name, original in kept:
            setattr(module, name, original)


def requests(site: str, pages: list[tuple[str, str]]) -> list[tuple[Any, Any]]:
    """ASGI (scope, receive) pairs of POST /e as wrk's script sends them, one per (page,
    referrer)."""
    made = []
    for url, referrer in pages:
        event = {"s": site, "i": uuid.uuid4().hex, "n": "pageview", "u": url, "r": referrer}
        body = orjson.dumps(event)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/e",
            "raw_path": b"/e",
            "query_string": b"",
            "root_path": "",
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"user-agent", UA),
                (b"content-type", b"text/plain"),
                (b"origin", b"https://example.com"),
                (b"content-length", str(len(body)).encode()),
            ],
        }

        async def receive(body: bytes = body) -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        made.append((scope, receive))
    return made


async def cpu_per_request(app: ASGI, batch: list[tuple[Any, Any]]) -> float:
    """Microseconds of this process's CPU per request, CONCURRENT at a time."""
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    # The prepared requests are many objects a server would not hold: kept out of the
    # garbage collector's scans (tune_gc's thresholds put off, not prevent, the scans).
    gc.collect()
    gc.freeze()
    began = time.process_time()
    for start in range(0, len(batch), CONCURRENT):
        await asyncio.gather(
            *(app(scope, receive, send) for scope, receive in batch[start : start + CONCURRENT])
        )
    spent = time.process_time() - began
    gc.unfreeze()
    assert set(statuses) == {202}, sorted(set(statuses))
    return spent / len(batch) * 1e6


async def measure(settings: Settings, site: str) -> dict[str, dict[str, list[float]]]:
    app = create_app(settings)
    wrks = ("https://example.com/pricing?utm_source=bench", "https://www.google.com/")

    def one_page(_round: int) -> list[tuple[str, str]]:
        return [wrks] * REQUESTS

    def new_pages(round_: int) -> list[tuple[str, str]]:
        return [
            (
                f"https://example.com/docs/{round_}/{n}?utm_source=news&utm_campaign=c{n}",
                f"https://blog{n}.example.org/{round_}",
            )
            for n in range(REQUESTS)
        ]

    def ad_clicks(round_: int) -> list[tuple[str, str]]:
        return [
            (
                f"https://example.com/pricing?utm_source=ads&gclid={round_}x{n}",
                f"https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com&h={round_}x{n}",
            )
            for n in range(REQUESTS)
        ]

    loads = {
        "one page (wrk's load)": one_page,
        "one page, a click id per request": ad_clicks,
        "a new page per request": new_pages,
    }
    figures: dict[str, dict[str, list[float]]] = {}
    async with app.router.lifespan_context(app):
        outer = asgi_app(app)
        tune_gc()  # as `overt serve` does before it serves
        # Warm: the first requests pay for the User-Agent parser's tables and the site.
        await cpu_per_request(outer, requests(site, [wrks] * 2_000))
        for load, pages in loads.items():
            on: list[float] = []
            off: list[float] = []
            for round_ in range(ROUNDS):
                # Built before the clock starts, each round its own pages (no cache hits
                # from the round before).
                batch = requests(site, pages(2 * round_))
                on.append(await cpu_per_request(outer, batch))
                batch = requests(site, pages(2 * round_ + 1))
                with rules_off():
                    off.append(await cpu_per_request(outer, batch))
            figures[load] = {"on": on, "off": off}
    return figures


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="overt-bench-intake-"))
    prefix = f"bench-intake-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp}/overt.db",
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        secret_key="b" * 40,
        log_level="WARNING",
        queue_max_entries=10_000_000,
    )
    upgrade_head(settings)

    async def add_site() -> str:
        engine = create_engine(settings)
        try:
            made = await create_site(
                engine=engine,
                domain="example.com",
                settings=SiteSettings(events_per_second=1_000_000),  # no rate limit here
            )
        finally:
            await engine.dispose()
        return made.id

    client = redis.Redis.from_url(REDIS_URL)
    try:
        site = uvloop.run(add_site())
        figures = uvloop.run(measure(settings, site))
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        for path in tmp.iterdir():
            path.unlink()
        tmp.rmdir()
    print(
        f"intake's storability rules, in process (CPU per /e request, median of {ROUNDS} "
        "alternating rounds):"
    )
    for load, rounds in figures.items():
        on, off = median(rounds["on"]), median(rounds["off"])
        print(
            f"  {load}: {on:.1f} us with them, {off:.1f} us without; /e keeps {off / on:.3f}x "
            f"of its throughput (the rules cost {(on - off) / on:.1%}; rounds with: "
            f"{', '.join(f'{x:.1f}' for x in rounds['on'])}; without: "
            f"{', '.join(f'{x:.1f}' for x in rounds['off'])})"
        )


if __name__ == "__main__":
    main()
