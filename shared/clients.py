"""Who a request comes from: the client's IP, from the peer or from a trusted proxy's header.

The IP is for in-memory use only (a hash input, a rate-limit key after keyed hashing): never
stored, never logged.
"""

from __future__ import annotations

from starlette.requests import Request

from shared.settings import Settings


def client_ip(request: Request, settings: Settings) -> str:
    """The first address in the trusted proxy's header when configured, else the peer's."""
    header = settings.client_ip_header
    forwarded = request.headers.get(header) if header else None
    return choose_client_ip(forwarded, request.client.host if request.client else "")


def choose_client_ip(forwarded: str | None, peer: str) -> str:
    """`client_ip` from raw values, for a layer ahead of the framework (the collector's /e):
    the first address of the trusted proxy's header value, when it has one, else the peer."""
    if forwarded:
        first = forwarded.split(",", 1)[0].strip()
        if first:
            return first
    return peer
