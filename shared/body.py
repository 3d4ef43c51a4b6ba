"""A bound on request bodies behind the framework: at most `max_body_bytes`.

Starlette reads a body to its end, however large; this layer refuses a body over the
limit with 413 (and closes the connection, so the unread rest is never parsed as a
request). /e has the same bound in its own reader (services/collector/router.py), in front
of this layer. How long a body may take is bounded by the server (shared/server.py).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import problem_response

CLOSE = {"Connection": "close"}
# A front layer may raise the bound for its own paths (an upload) by setting this scope key.
BODY_LIMIT_KEY = "overt.max_body_bytes"


class BodyTooLong(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The body exceeds {limit} bytes.", headers=CLOSE)


class BodyLimitMiddleware:
    """Refuse a declared Content-Length over the limit before the app runs; count a streamed
    body as the app reads it and raise a 413 HTTPException past the limit (FastAPI passes
    HTTPExceptions through its body parsing; the problem+json handler renders them)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = int(scope.get(BODY_LIMIT_KEY, self.max_bytes))
        for key, value in scope["headers"]:
            if key == b"content-length":
                if not value.isdigit() or int(value) > limit:
                    response = problem_response(
                        status=413,
                        title="Payload too large",
                        type_="https://overt.dev/problems/payload-too-large",
                        detail=f"The body exceeds {limit} bytes.",
                        instance=scope["path"],
                        headers=CLOSE,
                    )
                    await response(scope, receive, send)
                    return
                break
        await self.app(scope, self._counted(receive, limit), send)

    def _counted(self, receive: Receive, limit: int) -> Receive:
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLong(limit)
            return message

        return counted_receive
