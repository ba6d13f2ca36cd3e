"""Which webhook receivers the server may call: never a way into the operator's network.

A URL's host is resolved once, every address it resolves to is checked, and the request is then
sent to that checked address (the Host header and TLS SNI keep the name), so a DNS answer that
changes between check and connect (rebinding) cannot slip through. Link-local and cloud metadata
addresses are refused always; private ranges and loopback only when the operator allows them.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

# Cloud metadata services, refused even where private addresses are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254", "192.0.0.192")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class RefusedAddress(Exception):
    """The receiver's address is not one this server may call."""

    def __init__(self, message: str, *, unresolvable: bool = False):
        super().__init__(message)
        self.unresolvable = unresolvable


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # the name in the URL (Host header, SNI)
    port: int
    address: str  # the checked IP the request goes to


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def classify(address: str, *, allow_private: bool) -> str | None:
    """None when the address may be called, else the reason it may not."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv4 addresses carried inside IPv6 (mapped, 6to4, Teredo) are judged as what they carry.
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip.teredo is not None:
            ip = ip.teredo[1]
    if ip in METADATA_ADDRESSES:
        return "cloud metadata address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "unroutable address"
    if ip.is_loopback or ip.is_private or ip in _CGNAT:
        return None if allow_private else "private or loopback address (not allowed on this server)"
    if not ip.is_global:
        return "non-global address"
    return None


def check_url(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedAddress("only http and https URLs can receive webhooks")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolver(parts.hostname, port)
    except OSError as exc:
        raise RefusedAddress(f"cannot resolve {parts.hostname}: {exc}", unresolvable=True) from None
    if not addresses:
        raise RefusedAddress(f"{parts.hostname} has no address", unresolvable=True)
    for address in addresses:
        reason = classify(address, allow_private=allow_private)
        if reason:
            raise RefusedAddress(f"{parts.hostname} resolves to {address}: {reason}")
    return Target(scheme=parts.scheme, host=parts.hostname, port=port, address=addresses[0])
