"""Hostile input against a live server on loopback: each gets a clear 4xx or a bounded effect.

The server is the real one (`overt up`'s app under the uvicorn config of services/cli.py), so
limits enforced below ASGI (request head size and time) are tested where they live. Bounds:
a request head is refused past 32 KiB (431) or when slower than `read_timeout_seconds`
(408); a body past `max_body_bytes` (413) or slower than `read_timeout_seconds` (408);
the connection is closed after either. `BODY_SECONDS` shortens the timeout here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from services.cli import MAX_HEAD_BYTES
from shared.db import create_engine
from shared.logging import JsonFormatter
from shared.models import events
from tests.helpers.live import BODY_SECONDS, Live

PROBLEM = "application/problem+json"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0"
# Long enough that a test never waits on it: the server must answer well before.
CLIENT_PATIENCE = BODY_SECONDS * 10


@pytest.fixture
def http(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=CLIENT_PATIENCE) as client:
        yield client


def event(live: Live, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "s": live.site_id,
        "n": "pageview",
        "u": "https://example.com/hostile",
        "i": uuid.uuid4().hex,
    }
    return body | overrides


def post_events(http: httpx.Client, content: bytes, **headers: str) -> httpx.Response:
    return http.post(
        "/e",
        content=content,
        headers={
            "content-type": "text/plain",
            "origin": "https://example.com",
            "user-agent": BROWSER,  # httpx's own would be taken for a bot (answered, not stored)
        }
        | headers,
    )


def post_json(http: httpx.Client, live: Live, service: str, content: bytes) -> httpx.Response:
    """POST `content` as JSON to a consent or API operation that takes a JSON body."""
    path = {"consent": f"/consent/sites/{live.site_id}/tokens/check", "api": "/v1/query"}[service]
    return http.post(
        path,
        content=content,
        headers={"content-type": "application/json", "authorization": f"Bearer {live.key}"},
    )


def assert_problem(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["status"] == response.status_code


def stored_count(live: Live) -> int:
    """Pageviews stored for the live site, read from the database: what was stored, not
    what the API chooses to answer."""

    async def count() -> int:
        engine = create_engine(live.settings)
        try:
            async with engine.connect() as conn:
                query = select(func.count()).where(
                    events.c.site_id == live.site_id, events.c.name == "pageview"
                )
                return int((await conn.execute(query)).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(count())


def wait_stored(live: Live, expected: int) -> int:
    """The stored count once it reaches `expected` or stops changing (bounded)."""
    deadline = time.monotonic() + 15
    count = stored_count(live)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.05)
        count = stored_count(live)
    return count


# --- malformed UTF-8 --------------------------------------------------------------------


def test_malformed_utf8_bodies_are_a_400_or_422(http: httpx.Client, live: Live) -> None:
    broken = (
        b'{"s":"'
        + live.site_id.encode()
        + b'","n":"pageview","u":"https://example.com/\xff\xfe","i":"'
        + uuid.uuid4().hex.encode()
        + b'"}'
    )
    assert_problem(post_events(http, broken), 400)
    assert_problem(post_events(http, b"\xc3\x28\xa0\xa1"), 400)
    consent = post_json(http, live, "consent", b'{"token":"\xff\xfe\xfd"}')
    assert_problem(consent, 400, 422)
    query = post_json(http, live, "api", b'{"site_id":"\xc3\x28"}')
    assert_problem(query, 400, 422)


# --- deep JSON ---------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [100, 10_000])
def test_deeply_nested_json_is_a_4xx(http: httpx.Client, live: Live, depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    assert len(nested) < live.settings.max_body_bytes  # refused for its depth, not its size
    assert_problem(post_events(http, nested), 400, 422)
    as_object = b'{"a":' * depth + b"1" + b"}" * depth
    assert len(as_object) < live.settings.max_body_bytes
    consent = post_json(http, live, "consent", as_object)
    assert_problem(consent, 400, 422)
    query = post_json(http, live, "api", as_object)
    assert_problem(query, 400, 422)
    assert http.get("/healthz").status_code == 200


# --- sizes and content types -------------------------------------------------------------


def test_oversized_bodies_are_a_413_everywhere(http: httpx.Client, live: Live) -> None:
    too_big = b"[" + b" " * live.settings.max_body_bytes + b"]"
    assert_problem(post_events(http, too_big), 413)
    for path in (f"/consent/sites/{live.site_id}/tokens/check", "/v1/query"):
        declared = http.post(path, content=too_big, headers={"content-type": "application/json"})
        assert_problem(declared, 413)

        def chunks() -> Iterator[bytes]:  # no Content-Length: the streamed size is counted
            for _ in range(4):
                yield b" " * (live.settings.max_body_bytes // 2)

        streamed = http.post(path, content=chunks(), headers={"content-type": "application/json"})
        assert_problem(streamed, 413)


def test_zero_length_bodies_are_a_4xx(http: httpx.Client, live: Live) -> None:
    assert_problem(post_events(http, b""), 400)
    consent = post_json(http, live, "consent", b"")
    assert_problem(consent, 400, 422)
    query = post_json(http, live, "api", b"")
    assert_problem(query, 400, 422)


def test_wrong_content_types_are_a_4xx(http: httpx.Client, live: Live) -> None:
    body = orjson.dumps(event(live))
    for content_type in ("image/png", "multipart/form-data; boundary=x", "application/xml"):
        assert_problem(post_events(http, body, **{"content-type": content_type}), 415)
    consent = http.post(
        f"/consent/sites/{live.site_id}/tokens/check",
        content=b"token=abc",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_problem(consent, 400, 415, 422)
    form = http.post(
        f"/consent/sites/{live.site_id}/preferences/choices",
        content=b'{"purpose":"analytics"}',
        headers={"content-type": "application/json"},
    )
    assert_problem(form, 400, 403, 415)


# --- replays -----------------------------------------------------------------------------


def test_a_replayed_batch_is_stored_once(http: httpx.Client, live: Live) -> None:
    before = wait_stored(live, 0)
    batch = orjson.dumps([event(live) for _ in range(5)])
    for _ in range(4):
        assert post_events(http, batch).status_code == 202
    assert wait_stored(live, before + 5) == before + 5
    for _ in range(2):  # again, after it was written
        assert post_events(http, batch).status_code == 202
    one_more = orjson.dumps(event(live))
    assert post_events(http, one_more).status_code == 202
    assert wait_stored(live, before + 6) == before + 6  # the marker, and no duplicate


# --- the request head: size and time (below ASGI) ---------------------------------------


@contextmanager
def connection(live: Live) -> Iterator[socket.socket]:
    address = urlsplit(live.url)
    with socket.create_connection(
        (address.hostname, address.port), timeout=CLIENT_PATIENCE
    ) as sock:
        yield sock


def read_response(sock: socket.socket) -> tuple[int, bytes, bool]:
    """(status, body, closed by the server) of the one response on `sock`."""
    data = b""
    closed = False
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            None,
        )
        if length is not None and len(body) >= length:
            break
    status_line = data.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 "), data[:200]
    return int(status_line.split()[1]), data.partition(b"\r\n\r\n")[2], closed or _closed(sock)


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def send_quietly(sock: socket.socket, data: bytes) -> None:
    # The server may refuse before reading everything: that is the point.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Many: v\r\n" * 20_000 + b"\r\n",
        b"GET /" + b"p" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Over: " + b"o" * MAX_HEAD_BYTES + b"\r\n\r\n",
    ],
    ids=["one-huge-header", "many-headers", "huge-url", "just-over-in-one-chunk"],
)
def test_a_huge_request_head_is_a_431(live: Live, head: bytes) -> None:
    with connection(live) as sock:
        send_quietly(sock, head)
        status, body, closed = read_response(sock)
    assert status == 431
    assert orjson.loads(body)["type"].endswith("/headers-too-large")
    assert closed
    with httpx.Client(base_url=live.url) as client:  # the server is unharmed
        assert client.get("/healthz").status_code == 200


def test_a_head_just_under_the_bound_is_served(live: Live) -> None:
    padding = b"a" * (MAX_HEAD_BYTES - 1024)
    with connection(live) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + padding + b"\r\n\r\n")
        status, _, _ = read_response(sock)
    assert status == 200


class Trickle:
    """Sends `data` a byte at a time every `interval` seconds until done or cut off."""

    def __init__(self, sock: socket.socket, data: bytes, interval: float) -> None:
        self.sent = 0
        self.total = len(data)
        self._thread = threading.Thread(target=self._run, args=(sock, data, interval))
        self._thread.start()

    def _run(self, sock: socket.socket, data: bytes, interval: float) -> None:
        for index in range(len(data)):
            try:
                sock.sendall(data[index : index + 1])
            except OSError:
                return
            self.sent += 1
            time.sleep(interval)

    def join(self) -> None:
        self._thread.join(timeout=CLIENT_PATIENCE)


def test_a_slow_request_head_is_a_408(live: Live) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 200 + b"\r\n\r\n"
    with connection(live) as sock:
        trickle = Trickle(sock, head, interval=0.05)  # 12 s for the whole head
        status, body, closed = read_response(sock)
        trickle.join()
    assert status == 408
    assert orjson.loads(body)["type"].endswith("/request-timeout")
    assert closed
    assert trickle.sent < trickle.total  # cut off: it did not hold the connection to the end


def test_a_connection_that_never_speaks_is_closed(live: Live) -> None:
    with connection(live) as sock:
        status, _, closed = read_response(sock)
    assert status == 408
    assert closed


@pytest.mark.parametrize("service", ["collector", "consent", "api"])
def test_a_slow_body_is_a_408(live: Live, service: str) -> None:
    body = orjson.dumps(event(live)) + b" " * 300
    path = {
        "collector": "/e",
        "consent": f"/consent/sites/{live.site_id}/tokens/check",
        "api": "/v1/query",
    }[service]
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        f"Origin: https://example.com\r\nAuthorization: Bearer {live.key}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with connection(live) as sock:
        sock.sendall(head)
        trickle = Trickle(sock, body, interval=0.05)  # about 20 s for the whole body
        status, answer, closed = read_response(sock)
        trickle.join()
    assert status == 408, answer
    assert orjson.loads(answer)["status"] == 408
    assert closed
    assert trickle.sent < trickle.total


# --- what hostile requests leave in the logs ---------------------------------------------


class JsonLines(logging.Handler):
    """Formats each record as the production JSON line, at emit time (request id included)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_hostile_requests_log_json_with_request_ids_and_nothing_personal(
    http: httpx.Client, live: Live
) -> None:
    secrets = {
        "user_agent": "SecretAgent/9.9 (personal device 4711)",
        "ip": "198.51.100.23",
        "token": "tok-personal-0123456789",
        "key": "ovt_personal_notakey",
        "email": "visitor@example.org",
    }
    handler = JsonLines()
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # the conftest's autouse fixture restores it
    try:
        personal = {"user-agent": secrets["user_agent"], "x-forwarded-for": secrets["ip"]}
        body = orjson.dumps(event(live, k=secrets["token"], p={"email": secrets["email"]}))
        assert_problem(post_events(http, body[:-1], **personal), 400)
        assert_problem(
            post_events(http, b'{"s":"\xff' + secrets["email"].encode(), **personal), 400
        )
        check = post_json(
            http, live, "consent", b'{"token":"' + secrets["token"].encode() + b'\xff"}'
        )
        assert_problem(check, 400, 422)
        wrong_key = http.post(
            "/v1/query", json={}, headers={"authorization": f"Bearer {secrets['key']}"} | personal
        )
        assert_problem(wrong_key, 401)
        assert_problem(
            http.get(f"/consent/sites/{secrets['email']}/state", headers=personal), 401, 404, 422
        )
        with connection(live) as sock:
            send_quietly(
                sock,
                b"GET /healthz HTTP/1.1\r\nX-Token: "
                + secrets["token"].encode() * 4000
                + b"\r\n\r\n",
            )
            assert read_response(sock)[0] == 431
    finally:
        root.removeHandler(handler)
    access = [orjson.loads(line) for line in handler.lines if '"overt.access"' in line]
    assert len(access) >= 5  # every refused request left one line...
    assert all(entry["request_id"] for entry in access)  # ...with its request id
    assert all(isinstance(orjson.loads(line), dict) for line in handler.lines)
    everything = "\n".join(handler.lines)
    for name, value in secrets.items():
        assert value not in everything, name


# --- whose address an event is ------------------------------------------------------------


def test_a_forwarded_for_header_counts_only_when_configured(http: httpx.Client, live: Live) -> None:
    """OVERT_CLIENT_IP_HEADER unset: the visitor is the socket's peer, whatever
    X-Forwarded-For says, even from loopback (where uvicorn's own proxy handling, on by
    default, would take the header's address)."""
    assert live.settings.client_ip_header is None
    sent = [event(live), event(live)]
    for body, claimed in zip(sent, ("198.51.100.7", "203.0.113.9"), strict=True):
        answer = post_events(http, orjson.dumps(body), **{"X-Forwarded-For": claimed})
        assert answer.status_code == 202

    async def visitors() -> list[int]:
        engine = create_engine(live.settings)
        try:
            async with engine.connect() as conn:
                query = select(events.c.visitor_hash).where(
                    events.c.event_id.in_([uuid.UUID(str(body["i"])) for body in sent])
                )
                return [int(row) for row in (await conn.execute(query)).scalars()]
        finally:
            await engine.dispose()

    deadline = time.monotonic() + 15
    while len(found := asyncio.run(visitors())) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(found) == len(sent)
    assert len(set(found)) == 1  # one peer, one visitor
