"""/metrics after known traffic: every counter moves by exactly what was sent, on both backends.

The registry is per process, so each test compares a scrape after its traffic with one
before it (other tests in this process have moved the counters too).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter as Tally
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.collector.schemas import MAX_BATCH
from shared.app import asgi_app
from shared.runtime import Resources
from tests.helpers.backends import METRICS_TOKEN
from tests.helpers.overt import Overt, make_app, running
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.anyio

Sample = tuple[str, tuple[tuple[str, str], ...]]
SCRAPER = {"authorization": f"Bearer {METRICS_TOKEN}"}
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


async def scrape(client: httpx.AsyncClient) -> dict[Sample, float]:
    response = await client.get("/metrics", headers=SCRAPER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def moved(before: dict[Sample, float], after: dict[Sample, float]) -> dict[Sample, float]:
    """The samples that changed, by how much (histogram buckets left out)."""
    return {
        key: after[key] - before.get(key, 0.0)
        for key in after
        if after[key] != before.get(key, 0.0) and not key[0].endswith("_bucket")
    }


def sample(name: str, **labels: str) -> Sample:
    return name, tuple(sorted(labels.items()))


async def test_intake_counters_move_by_exactly_the_traffic(overt: Overt) -> None:
    await overt.drained()
    before = await scrape(overt.client)
    batch = [overt.event() for _ in range(3)]
    assert (await overt.send(batch)).status_code == 202
    assert (await overt.send(overt.event(), **{"sec-gpc": "1"})).status_code == 202
    assert (await overt.send(overt.event(g=1, k="not-a-token"))).status_code == 202
    assert (await overt.send(overt.event(k="not-a-token"))).status_code == 202
    assert (await overt.send(overt.event(), **{"user-agent": BOT_UA})).status_code == 202
    assert (await overt.send(b"{not json")).status_code == 400
    assert (await overt.send(overt.event(s="nosuchsite"))).status_code == 422
    assert (await overt.send(overt.event(), **{"content-type": "image/png"})).status_code == 415
    too_many = [overt.event() for _ in range(MAX_BATCH + 1)]
    assert (await overt.send(too_many)).status_code == 422
    huge = b"[" + b" " * overt.resources.settings.max_body_bytes + b"]"
    assert (await overt.send(huge)).status_code == 413
    await overt.drained()
    after = await scrape(overt.client)
    changed = moved(before, after)

    # Every /e answer is timed, 202 or refusal: 5 accepted bodies and 5 refused ones.
    assert changed[sample("overt_intake_seconds_count")] == 10
    assert 0 < changed[sample("overt_intake_seconds_sum")] < 60
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for (name, labels), value in after.items()
        if name == "overt_intake_seconds_bucket"
    )
    assert [value for _, value in buckets] == sorted(value for _, value in buckets)
    assert buckets[-1] == (float("inf"), after[sample("overt_intake_seconds_count")])
    assert changed[sample("overt_events_accepted_total")] == 6
    assert changed[sample("overt_events_gpc_total")] == 2
    assert changed[sample("overt_events_bot_total")] == 1
    assert changed[sample("overt_consent_checks_total", result="invalid")] == 1
    assert changed[sample("overt_consent_checks_total", result="gpc")] == 1
    rejected = {
        dict(labels)["reason"]: value
        for (name, labels), value in changed.items()
        if name == "overt_intake_rejected_total"
    }
    assert rejected == {
        "malformed-json": 1,
        "unknown-site": 1,
        "unsupported-media-type": 1,
        "invalid-event": 1,
        "payload-too-large": 1,
    }
    assert changed[sample("overt_ingest_events_total", outcome="stored")] == 6
    assert sample("overt_ingest_events_total", outcome="duplicate") not in changed
    assert changed[sample("overt_ingest_batch_events_sum")] == 6
    batches = changed[sample("overt_ingest_batch_events_count")]
    assert 1 <= batches <= 6
    assert changed[sample("overt_ingest_write_seconds_count")] == batches


async def test_a_replayed_batch_counts_as_duplicates_not_stored(overt: Overt) -> None:
    batch = [overt.event() for _ in range(4)]
    assert (await overt.send(batch)).status_code == 202
    await overt.drained()
    before = await scrape(overt.client)
    assert (await overt.send(batch)).status_code == 202
    await overt.drained()
    changed = moved(before, await scrape(overt.client))
    assert changed[sample("overt_events_accepted_total")] == 4  # answered 202 again...
    assert changed[sample("overt_ingest_events_total", outcome="duplicate")] == 4  # ...stored once
    assert sample("overt_ingest_events_total", outcome="stored") not in changed


async def test_route_latency_is_labelled_by_template_and_nothing_personal(overt: Overt) -> None:
    before = await scrape(overt.client)
    assert (await overt.query()).status_code == 200
    assert (await overt.query(key="ovt_wrong")).status_code == 401
    state = await overt.client.get(f"/consent/sites/{overt.site.id}/state")
    assert state.status_code < 500
    assert (await overt.client.get(f"/no/such/{overt.site.id}")).status_code == 404
    text = (await overt.client.get("/metrics", headers=SCRAPER)).text
    changed = moved(before, await scrape(overt.client))

    count = "overt_http_request_seconds_count"
    assert changed[sample(count, route="/v1/query", method="POST", status="200")] == 1
    assert changed[sample(count, route="/v1/query", method="POST", status="401")] == 1
    state_route = "/consent/sites/{site_id}/state"
    assert changed[sample(count, route=state_route, method="GET", status=str(state.status_code))]
    assert changed[sample(count, route="(unmatched)", method="GET", status="404")] == 1
    for personal in (overt.site.id, "203.0.113.7", "TestBrowser", overt.key, "example.com"):
        assert personal not in text


async def test_process_cpu_memory_and_gc_are_exported(overt: Overt) -> None:
    scraped = await scrape(overt.client)
    assert scraped[sample("process_cpu_seconds_total")] > 0
    assert scraped[sample("process_resident_memory_bytes")] > 10 * 2**20
    assert scraped[sample("process_open_fds")] > 0
    collections = {
        dict(labels)["generation"]: value
        for (name, labels), value in scraped.items()
        if name == "python_gc_collections_total"
    }
    assert set(collections) == {"0", "1", "2"}
    assert collections["0"] > 0


async def test_queue_depth_and_lag_are_read_at_scrape_time(resources: Resources) -> None:
    """With no worker, a queued payload shows as depth 1 and a lag at least its age."""
    app = make_app(resources, worker=False)
    queue = resources.queue
    async with running(app) as client:
        empty = await scrape(client)
        assert empty[sample("overt_queue_depth")] == 0
        assert empty[sample("overt_queue_lag_seconds")] == 0
        record = {"id": uuid.uuid4().hex, "site": "s1"}
        publish = asyncio.ensure_future(queue.publish(orjson.dumps([record])))
        queued_at = datetime.now(UTC)
        await asyncio.sleep(0.3)
        busy = await scrape(client)
        age = (datetime.now(UTC) - queued_at).total_seconds()
        assert busy[sample("overt_queue_depth")] == 1
        assert 0.25 <= busy[sample("overt_queue_lag_seconds")] <= age + 1
        deliveries = await queue.consume(count=10, block_ms=100)
        assert len(deliveries) == 1
        await queue.ack([d.id for d in deliveries])
        await publish
        assert (await scrape(client))[sample("overt_queue_depth")] == 0


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_metric_labels_are_a_closed_set() -> None:
    """Label names are fixed here; values come from routes, problem slugs and fixed words."""
    from shared import metrics

    labelled = Tally(
        name
        for metric in vars(metrics).values()
        if hasattr(metric, "_labelnames")
        for name in metric._labelnames
    )
    assert set(labelled) == {"reason", "result", "outcome", "route", "method", "status"}


def client_from(app: object, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=asgi_app(app), client=(address, 50000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://overt.test")


async def test_metrics_need_the_bearer_token_when_one_is_set(overt: Overt) -> None:
    """The test settings carry OVERT_METRICS_TOKEN: without it, or with another, 401 (from
    loopback too); with it, the scrape."""
    for address in ("203.0.113.7", "127.0.0.1"):
        async with client_from(overt.app, address) as client:
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic x"}):
                refused = await client.get("/metrics", headers=headers)
                assert_problem(refused, 401, "metrics-token-required")
                assert refused.headers["www-authenticate"] == "Bearer"
                assert "overt_" not in refused.text
            allowed = await client.get("/metrics", headers=SCRAPER)
            assert allowed.status_code == 200
            assert "overt_queue_depth" in allowed.text


async def test_without_a_token_metrics_answer_only_on_loopback(resources: Resources) -> None:
    """No OVERT_METRICS_TOKEN: a local scraper (`make run`, a node's own agent) reads them;
    anyone else, or a request a proxy relayed from elsewhere, is refused."""
    open_settings = resources.settings.model_copy(update={"metrics_token": None})
    app = make_app(replace(resources, settings=open_settings), worker=False)
    async with running(app):
        async with client_from(app, "203.0.113.7") as remote:
            assert_problem(await remote.get("/metrics"), 403, "metrics-not-local")
        async with client_from(app, "10.0.0.5") as neighbour:
            assert_problem(await neighbour.get("/metrics"), 403, "metrics-not-local")
        async with client_from(app, "127.0.0.1") as local:
            assert (await local.get("/metrics")).status_code == 200
            relayed = await local.get("/metrics", headers={"x-forwarded-for": "198.51.100.1"})
            assert_problem(relayed, 403, "metrics-not-local")
            forwarded = await local.get("/metrics", headers={"forwarded": "for=198.51.100.1"})
            assert_problem(forwarded, 403, "metrics-not-local")
        async with client_from(app, "::1") as local6:
            assert (await local6.get("/metrics")).status_code == 200
