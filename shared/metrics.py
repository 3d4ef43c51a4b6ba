"""Prometheus metrics: one registry per process, served at /metrics by every process.

Multi-process is kept simple: each process (pod, container, `overt serve ...`) exposes its
own registry and is scraped on its own; nothing is aggregated across processes here (that
is Prometheus's `sum by`). Counters start at zero with the process.

No label carries anything personal: routes are templates (`/consent/sites/{site_id}/state`),
reasons are problem slugs, never paths with ids, IPs, User-Agents or tokens.

Who may read them (check_metrics_access): with OVERT_METRICS_TOKEN set, a scraper sending
`Authorization: Bearer TOKEN` (Prometheus' `authorization: {credentials_file: ...}`), from
anywhere; without it, only a client on this host's loopback, connected directly (a request
carrying a proxy's forwarding header came from elsewhere).
"""

from __future__ import annotations

import bisect
import hmac
import ipaddress
import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

from shared.errors import ProblemError
from shared.queue import EventQueue
from shared.settings import Settings

REGISTRY = CollectorRegistry(auto_describe=True)
# The process's CPU, memory, open files and start time (process_*), the Python GC's
# collections and objects (python_gc_*) and the Python version (python_info).
ProcessCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
# Headers a reverse proxy adds: a request with one was relayed, so its loopback peer says
# nothing about where it came from.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


class MetricsTokenRequired(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            401,
            "Metrics token required",
            slug="metrics-token-required",
            detail="Send Authorization: Bearer with the value of OVERT_METRICS_TOKEN.",
            headers={"WWW-Authenticate": "Bearer"},
        )


class MetricsNotLocal(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            403,
            "Metrics are local only",
            slug="metrics-not-local",
            detail="Without OVERT_METRICS_TOKEN, /metrics answers only on this host's loopback "
            "and not through a proxy; set the token to scrape from elsewhere.",
        )


def check_metrics_access(
    *, settings: Settings, peer: str | None, headers: Mapping[str, str]
) -> None:
    """Raise unless this request may read /metrics (see the module docstring)."""
    token = settings.metrics_token
    if token is not None:
        scheme, _, given = headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise MetricsTokenRequired()
        return
    if any(name in headers for name in FORWARDING_HEADERS):
        raise MetricsNotLocal()
    if settings.client_ip_header and settings.client_ip_header.lower() in headers:
        raise MetricsNotLocal()
    try:
        local = peer is not None and ipaddress.ip_address(peer).is_loopback
    except ValueError:
        local = False
    if not local:
        raise MetricsNotLocal()


class HotCounter:
    """A counter without labels for the /e hot path: `inc` is a plain integer add where
    prometheus_client's Counter.inc takes a lock through two calls (a visible share of a
    /e request's CPU). Read at scrape time; exposed exactly like a Counter. Incremented
    only on the event loop's thread, so it needs no lock."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.name, self.documentation = name, documentation
        self.value = 0
        self.created = time.time()
        registry.register(self)

    def inc(self, amount: int = 1) -> None:
        self.value += amount

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            self.name, self.documentation, value=self.value, created=self.created
        )


class HotHistogram:
    """A latency histogram without labels for the /e hot path, for the reason of HotCounter:
    `observe` is a bisect and two integer adds, no lock (event loop thread only)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: tuple[float, ...],
        registry: CollectorRegistry,
    ) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last one: above every bound (+Inf)
        self.total = 0.0
        self.created = time.time()
        registry.register(self)

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative, buckets = 0, []
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            self.name, self.documentation, buckets=buckets, sum_value=self.total
        )


LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

EVENTS_ACCEPTED = HotCounter(
    "overt_events_accepted",
    "Events the collector queued durably (answered 202).",
    registry=REGISTRY,
)
EVENTS_GPC = HotCounter(
    "overt_events_gpc",
    "Accepted events carrying Global Privacy Control (Sec-GPC header or the snippet's flag).",
    registry=REGISTRY,
)
EVENTS_DROPPED_BOTS = HotCounter(
    "overt_events_bot",
    "Events from bots and crawlers: answered like the others, never queued.",
    registry=REGISTRY,
)
EVENTS_WITHHELD = HotCounter(
    "overt_events_withheld_no_consent",
    "Events for a site that requires consent, sent without analytics consent: answered like "
    "the others, never queued or stored.",
    registry=REGISTRY,
)
INTAKE_REJECTED = Counter(
    "overt_intake_rejected",
    "Bodies /e refused (nothing of them queued), by the problem type's slug.",
    ["reason"],
    registry=REGISTRY,
)
CONSENT_CHECKS = Counter(
    "overt_consent_checks",
    "Consent tokens the collector checked before linking an event to its subject, by result.",
    ["result"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "overt_queue_depth",
    "Event-queue entries not yet acknowledged by a worker (read at scrape time).",
    registry=REGISTRY,
)
QUEUE_LAG = Gauge(
    "overt_queue_lag_seconds",
    "Age of the oldest unacknowledged queue entry; 0 when the queue is empty.",
    registry=REGISTRY,
)
INGEST_BATCH_EVENTS = Histogram(
    "overt_ingest_batch_events",
    "Events per batch the ingest worker wrote.",
    buckets=(1, 10, 50, 100, 500, 1000, 5000, 10_000, 50_000),
    registry=REGISTRY,
)
INGEST_WRITE_SECONDS = Histogram(
    "overt_ingest_write_seconds",
    "Time to write and commit one batch (sessions and rollups included).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
INGEST_EVENTS = Counter(
    "overt_ingest_events",
    "Events the ingest worker handled: stored (new) or duplicate (already stored).",
    ["outcome"],
    registry=REGISTRY,
)
INGEST_DEAD_LETTERS = Counter(
    "overt_ingest_dead_letters",
    "Queue payloads the ingest worker dead-lettered (they failed alone while the database "
    "worked; `overt deadletter list`), by the database driver's error type.",
    ["reason"],
    registry=REGISTRY,
)
HTTP_REQUEST_SECONDS = Histogram(
    "overt_http_request_seconds",
    "Time to answer a request, by route template, method and status (POST /e: "
    "overt_intake_seconds).",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
INTAKE_SECONDS = HotHistogram(
    "overt_intake_seconds",
    "Time to answer POST /e, from its head to its answer (accepted and refused alike).",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "overt_webhook_attempts",
    "Webhook requests made, by outcome: delivered (2xx), retry (will be tried again), "
    "failed (the last attempt failed; the delivery is given up).",
    ["outcome"],
    registry=REGISTRY,
)

UNMATCHED_ROUTE = "(unmatched)"


def ledger_verification(intact: Mapping[str, bool], at: float) -> CollectorRegistry:
    """What `overt ledger verify --metrics-file` writes for node_exporter's textfile collector:
    per site, whether its chain is intact, and when the check ran (alert when it is old)."""
    registry = CollectorRegistry()
    chains = Gauge(
        "overt_ledger_intact",
        "1 when the site's consent ledger verified intact at the last run, 0 when tampered.",
        ["site"],
        registry=registry,
    )
    for site, ok in intact.items():
        chains.labels(site).set(1 if ok else 0)
    Gauge(
        "overt_ledger_verified_timestamp_seconds",
        "When `overt ledger verify` last ran to completion (Unix time).",
        registry=registry,
    ).set(at)
    return registry


async def render_metrics(queue: EventQueue) -> tuple[bytes, str]:
    """The registry in Prometheus text format, with the queue gauges read now."""
    try:
        QUEUE_DEPTH.set(await queue.depth())
        QUEUE_LAG.set(await queue.oldest_age())
    except Exception:  # an unreachable queue must not break the scrape; readyz reports it
        QUEUE_DEPTH.set(float("nan"))
        QUEUE_LAG.set(float("nan"))
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def observe_request(route: Any, method: str, status: int, seconds: float) -> None:
    """One answered request under its route template; `route` None means none matched."""
    template = getattr(route, "path", None) or UNMATCHED_ROUTE
    if template != "/metrics":
        HTTP_REQUEST_SECONDS.labels(template, method, str(status)).observe(seconds)
