"""OVERT_ACCESS_LOG: one line per answer with method, route template, status, duration and
request id, and nothing personal: no IP, User-Agent, query string or body, on both backends."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from shared.logging import JsonFormatter, configure_logging
from shared.settings import Settings
from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio

SECRET = "alice-at-example-com"


class Lines(logging.Handler):
    """Every record as the JSON formatter writes it, formatted when it is logged (the request
    id is read from the request's context then)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def access(self) -> list[dict[str, object]]:
        parsed = [json.loads(line) for line in self.lines]
        return [line for line in parsed if line["logger"] == "overt.access"]


@pytest.fixture
def logged() -> Iterator[Lines]:
    configure_logging(fmt="json", level="INFO", access=True)
    handler = Lines()
    logging.getLogger().addHandler(handler)  # beside configure_logging's own
    try:
        yield handler
    finally:
        configure_logging(fmt="text", level="INFO")


async def test_every_answer_gets_a_line_and_nothing_personal(overt: Overt, logged: Lines) -> None:
    accepted = await overt.send(overt.event(u=f"https://example.com/p?email={SECRET}"))
    assert accepted.status_code == 202
    refused = await overt.send(b"{not json " + SECRET.encode())
    assert refused.status_code == 400
    queried = await overt.query()
    assert queried.status_code == 200
    state = await overt.client.get(f"/consent/sites/{overt.site.id}/purposes?who={SECRET}")
    assert state.status_code == 200
    missing = await overt.client.get(f"/{SECRET}")
    assert missing.status_code == 404
    await overt.drained()
    lines = logged.access()
    seen = [(line["msg"], line["request_id"]) for line in lines]
    assert seen == [
        ("POST /e 202", accepted.headers["x-request-id"]),
        ("POST /e 400", refused.headers["x-request-id"]),
        ("POST /v1/query 200", queried.headers["x-request-id"]),
        ("GET /consent/sites/{site_id}/purposes 200", state.headers["x-request-id"]),
        ("GET (unmatched) 404", missing.headers["x-request-id"]),
    ]
    assert all(isinstance(line["duration_ms"], float) for line in lines)
    text = "\n".join(logged.lines)
    for personal in ("203.0.113.7", "TestBrowser", SECRET, overt.key, overt.site.id, "?"):
        assert personal not in text, personal


async def test_off_by_default_successes_leave_no_line(overt: Overt, logged: Lines) -> None:
    assert Settings().access_log is False
    configure_logging(fmt="json", level="INFO")  # as `overt` does with the default
    logging.getLogger().addHandler(logged)
    assert (await overt.send(overt.event())).status_code == 202
    assert (await overt.query()).status_code == 200
    assert (await overt.send(b"{")).status_code == 400
    assert [line["msg"] for line in logged.access()] == ["POST /e 400"]
