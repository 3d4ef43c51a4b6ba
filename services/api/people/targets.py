"""Where a webhook may be sent: public addresses only, pinned so DNS cannot change it (SSRF)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from services.api.people.exceptions import UnsafeTarget


async def check_target(url: str, *, allow_private: bool) -> str | None:
    """Refuse URLs whose host resolves to anything but a public unicast host (see is_public).

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
    except UnicodeError:  # a label over 63 characters or a name over 253: IDNA refuses it
        raise UnsafeTarget("The host name is not a DNS name.") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses or not all(is_public(address) for address in addresses):
        raise UnsafeTarget("The host resolves to a non-public address.")
    return str(addresses[0])


# RFC 6052's well-known NAT64 prefix: the last 32 bits are the IPv4 host the gateway reaches.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# RFC 8215's local-use translation prefix: operator-defined embeddings, never a public host.
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
# RFC 4291's deprecated IPv4-compatible addresses (::a.b.c.d), which some stacks still route.
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """One unicast host on the public internet: global, not multicast, and (for the IPv6
    forms that carry an IPv4 address: mapped, NAT64, 6to4) a public IPv4 host inside."""
    if address.is_multicast or not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return True
    if address in NAT64_LOCAL or address in IPV4_COMPATIBLE:
        return False
    if address in NAT64:
        return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    embedded = address.ipv4_mapped or address.sixtofour
    return embedded is None or is_public(embedded)


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
