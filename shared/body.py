"""Bounds on request bodies behind the framework: at most N bytes, arriving within T seconds.

Starlette reads a body to its end, however large and however slowly it comes; this layer
refuses a body over `max_body_bytes` (413) and one still incomplete `read_timeout_seconds`
after the handler first asked for it (408, then the server closes the connection). /e has
the same bounds in its own reader (services/collector/router.py), in front of this layer.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import problem_response

CLOSE = {"Connection": "close"}


class BodyTooSlow(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            408,
            f"The request body did not arrive within {seconds:g} s.",
            headers=CLOSE,  # the rest of the body may still come: do not parse it as a request
        )


class BodyTooLong(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The body exceeds {limit} bytes.", headers=CLOSE)


class BodyLimitMiddleware:
    """Wrap `receive` so a body that is too large or too slow raises an HTTP 413 or 408.

    Raised inside the app (where the handler reads the body), these are HTTPExceptions:
    FastAPI passes them through its body parsing, and the problem+json handler renders them.
    A declared Content-Length over the limit is refused before the app runs.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    response = problem_response(
                        status=413,
                        title="Payload too large",
                        type_="https://overt.dev/problems/payload-too-large",
                        detail=f"The body exceeds {self.max_bytes} bytes.",
                        instance=scope["path"],
                        headers=CLOSE,
                    )
                    await response(scope, receive, send)
                    return
                break
        await self.app(scope, self._bounded(receive), send)

    def _bounded(self, receive: Receive) -> Receive:
        received = 0
        deadline: float | None = None
        complete = False

        async def bounded_receive() -> Message:
            nonlocal received, deadline, complete
            if complete:  # after the body: waiting for a disconnect is not bounded
                return await receive()
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + self.seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlow(self.seconds) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLong(self.max_bytes)
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        return bounded_receive
