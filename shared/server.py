"""The HTTP server's own bounds, below ASGI: how large and how slow a request head may be.

uvicorn's httptools protocol has no limit on the request line and headers, and no clock
on them: a client could send megabytes of headers, or one byte a minute, and the server
would hold the connection and buffer it all. The protocol made by `bounded_http_protocol`
answers 431 past `max_head_bytes` (before parsing them) and 408 when the head is not complete within
`head_seconds` of its first byte (or of the connection), then closes the connection.
The bodies' bounds are in shared/body.py and in /e's reader.
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


def bounded_http_protocol(*, max_head_bytes: int, head_seconds: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a size and a time bound on each request head."""
    too_large = _problem(
        431,
        "Request Header Fields Too Large",
        "headers-too-large",
        f"The request line and headers exceed {max_head_bytes} bytes.",
    )
    too_slow = _problem(
        408,
        "Request Timeout",
        "request-timeout",
        f"The request line and headers did not arrive within {head_seconds:g} s.",
    )

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """Counted per request before the parser sees the bytes: up to the blank line that
        ends the head, so a chunk that carries a body too is not taken for a large head.
        (Pipelined requests in one chunk: only the first head in the chunk is counted.)"""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head = True
            self._head_bytes = 0
            self._head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_timer = self.loop.call_later(head_seconds, self._head_timeout)

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if not self._in_head:
                super().data_received(data)
                return
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(head_seconds, self._head_timeout)
            end = data.find(b"\r\n\r\n")  # the head's bytes in this chunk, body excluded
            self._head_bytes += len(data) if end < 0 else end + 4
            if self._head_bytes > max_head_bytes:
                self._refuse(too_large)
                return
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._head_bytes = 0
            self._stop_head_timer()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head = True  # the next request's head (idle: uvicorn's keep-alive timer)

        def _head_timeout(self) -> None:
            self._head_timer = None
            if self._in_head:
                self._refuse(too_slow)

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _refuse(self, response: bytes) -> None:
            self._stop_head_timer()
            if not self.transport.is_closing():
                self.transport.write(response)
                self.transport.close()

    return BoundedHttpToolsProtocol
