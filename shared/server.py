"""The HTTP server's own bounds, below ASGI: how large a request head may be, and how long
a request's head and then its body may take to arrive.

uvicorn's httptools protocol has no limit on the request line and headers and no clock on
a request: a client could send megabytes of headers, or one byte a minute of a head or a
body, and the server would buffer it all and hold the connection. The protocol made by
`bounded_http_protocol`:

- answers 431 once a head passes `max_head_bytes` (counted before the parser sees it);
- answers 408 when a head is not complete `read_seconds` after its first byte (or after
  the connection opened), or a body `read_seconds` after its head; then closes.

Time is kept without a timer or a clock read per request: each connection notes when it
started waiting by the sweep's clock (the loop's time at the last sweep or new connection),
and one sweep per server, a few times a `read_seconds`, ends the connections past it. So the
408 comes never before `read_seconds` and at most two sweep intervals after (at most 2 s).
Idle keep-alive connections are uvicorn's own (timeout_keep_alive).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _problem(status: int, reason: str, slug: str, detail: str) -> bytes:
    body = orjson.dumps(
        {"type": f"https://overt.dev/problems/{slug}", "title": reason, "status": status}
        | {"detail": detail}
    )
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body


def bounded_http_protocol(*, max_head_bytes: int, read_seconds: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a size bound on heads and a time bound on reads."""
    too_large = _problem(
        431,
        "Request Header Fields Too Large",
        "headers-too-large",
        f"The request line and headers exceed {max_head_bytes} bytes.",
    )
    slow_head = _problem(
        408,
        "Request Timeout",
        "request-timeout",
        f"The request line and headers did not arrive within {read_seconds:g} s.",
    )
    slow_body = _problem(
        408,
        "Request Timeout",
        "request-timeout",
        f"The request body did not arrive within {read_seconds:g} s.",
    )
    sweep_every = min(1.0, read_seconds / 4)
    late = read_seconds + sweep_every  # a wait's stamp is up to sweep_every early (Sweep)
    sweep = _Sweep()
    base_data_received = HttpToolsProtocol.data_received
    base_headers_complete = HttpToolsProtocol.on_headers_complete
    base_message_complete = HttpToolsProtocol.on_message_complete

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """Head bytes are counted up to the blank line that ends the head, so a chunk that
        carries a body too is not taken for a large head (pipelined requests in one chunk:
        only the first head is counted).

        Every request passes through these methods, so they are kept lean (by callgrind's
        count of instructions per request): the base's methods are called directly, not
        through super(); waits are stamped with the sweep's clock, not the loop's; and
        nothing is assigned to the class after it is made (the sweep's state is its own
        object), which would invalidate what the interpreter specialised for its instances.
        """

        # uvicorn's protocol gives its instances some 28 attributes: three more in the
        # instance dict would pass CPython's limit of 30 keys shared by a class's instances.
        __slots__ = ("_head_bytes", "_in_head", "_waiting_since")

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            HttpToolsProtocol.__init__(self, *args, **kwargs)
            self._in_head = True
            self._head_bytes = 0
            self._waiting_since: float | None = None  # a head or a body is on its way

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            HttpToolsProtocol.connection_made(self, transport)
            self._waiting_since = sweep.clock = self.loop.time()
            if sweep.timer is None:
                sweep.timer = self.loop.call_later(sweep_every, _sweep, self.loop, self)

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                if self._waiting_since is None:
                    self._waiting_since = sweep.clock
                self._head_bytes += len(data)
                if self._head_bytes > max_head_bytes:
                    # Counted exactly only near the bound: the chunk may end the head and
                    # carry a body (the count restarts at 0 when the head is complete).
                    end = data.find(b"\r\n\r\n")
                    if end >= 0:
                        self._head_bytes += end + 4 - len(data)
                    if self._head_bytes > max_head_bytes:
                        self._refuse(too_large)
                        return
            base_data_received(self, data)

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._head_bytes = 0
            self._waiting_since = sweep.clock  # now the body (cleared if it is all here)
            base_headers_complete(self)

        def on_message_complete(self) -> None:
            base_message_complete(self)
            self._in_head = True
            self._waiting_since = None  # idle until the next head: uvicorn's keep-alive

        def _expire(self) -> None:
            self._waiting_since = None
            if self._in_head:
                self._refuse(slow_head)
                return
            cycle = self.cycle
            if cycle is not None and not cycle.response_started:
                # The app is waiting for the rest of the body: answer for it, and let its
                # receive() see the disconnect (what it sends after that is dropped).
                cycle.disconnected = True
                self._refuse(slow_body)
            elif not self.transport.is_closing():
                self.transport.close()

        def _refuse(self, response: bytes) -> None:
            self._waiting_since = None
            if not self.transport.is_closing():
                self.transport.write(response)
                self.transport.close()

    def _sweep(loop: asyncio.AbstractEventLoop, any_connection: Any) -> None:
        now = sweep.clock = loop.time()
        open_connections = list(any_connection.connections)
        for connection in open_connections:
            if not isinstance(connection, BoundedHttpToolsProtocol):
                continue
            since = connection._waiting_since
            if since is not None and now - since > late:
                connection._expire()
        live = [c for c in open_connections if not c.transport.is_closing()]
        sweep.timer = loop.call_later(sweep_every, _sweep, loop, live[0]) if live else None

    return BoundedHttpToolsProtocol


class _Sweep:
    """One server's sweep: its timer (None while no connection is open) and its clock, the
    loop's time at the last sweep or new connection."""

    __slots__ = ("clock", "timer")

    def __init__(self) -> None:
        self.clock = 0.0
        self.timer: asyncio.TimerHandle | None = None
