"""Where a webhook may be sent: public addresses only, pinned so DNS cannot change it (SSRF)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from services.api.people.exceptions import UnsafeTarget


async def check_target(url: str, *, allow_private: bool) -> str | None:
    """Refuse URLs whose host resolves to a private, loopback, link-local or reserved address.

    Returns the vetted address to connect to (None when private targets are allowed), so the
    request cannot be sent to another address resolved later (DNS rebinding).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget("Only http and https URLs with a host are accepted.")
    if parts.username or parts.password:
        raise UnsafeTarget("URLs with credentials are not accepted.")
    if allow_private:
        return None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname,
            parts.port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM,
        )
    except OSError:
        raise UnsafeTarget("The host name does not resolve.") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses or not all(address.is_global for address in addresses):
        raise UnsafeTarget("The host resolves to a non-public address.")
    return str(addresses[0])


def pinned(url: str, address: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL to request, with the Host header and TLS server name of the original, so the
    connection goes to the vetted `address` (None: the URL as it is)."""
    if address is None:
        return url, {}, {}
    parts = urlsplit(url)
    assert parts.hostname is not None
    literal = f"[{address}]" if ":" in address else address
    netloc = literal + (f":{parts.port}" if parts.port else "")
    host = parts.netloc.rsplit("@", 1)[-1]
    extensions: dict[str, Any] = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return parts._replace(netloc=netloc).geturl(), {"host": host}, extensions
