"""Which webhook receivers the server may call: never a way into the operator's network.

A URL's host is resolved once, every address it resolves to is checked, and the request is then
sent to that checked address (the Host header and TLS SNI keep the name), so a DNS answer that
changes between check and connect (rebinding) cannot slip through. The rule is `is_global`: every
address that is not globally routable is refused (IPv4 written as IPv6 judged as the IPv4 it
carries, tunnel endpoints judged too), except the operator's own private ranges and loopback when
the operator allows them; link-local and cloud metadata addresses are refused always.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

# Cloud metadata services, refused even where private addresses are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254", "192.0.0.192")
)

# The private ranges an operator may open with `webhook_allow_private` (receivers on their own
# network): loopback, RFC 1918, CGNAT (RFC 6598), unique-local (RFC 4193) and its deprecated
# predecessor, site-local (RFC 3879). Every other non-global address is refused always.
_PRIVATE_USE = tuple(
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
              "::1/128", "fc00::/7", "fec0::/10")
)
# Non-global ranges that Python 3.11's `is_global` tables miss (IANA special-purpose registry):
# IETF protocol assignments (all of it: the two anycast addresses in it are no webhook receivers),
# site-local, local-use NAT64 (RFC 8215), IPv6 documentation (RFC 9637), SRv6 SIDs (RFC 9602).
_NOT_GLOBAL_EXTRA = tuple(
    ipaddress.ip_network(n) for n in ("192.0.0.0/24", "fec0::/10", "64:ff9b:1::/48", "3fff::/20", "5f00::/16")
)
# IPv6 forms that carry an IPv4 address the packet really goes to (RFC 4291 mapped and the
# deprecated "compatible" form, RFC 6052 well-known NAT64 prefix).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")


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
    return sorted({str(info[4][0]) for info in infos})


def _is_global(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not any(ip in net for net in _NOT_GLOBAL_EXTRA)


def _translated(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, IPv4-compatible or NAT64 address is a way of writing."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _COMPATIBLE and int(ip) > 1):  # "::" and "::1" are IPv6 themselves
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _tunnelled(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 endpoints a 6to4 (RFC 3056) or Teredo (RFC 4380) address embeds."""
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    return []


def _reason(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_private: bool) -> str | None:
    """The rule for one address: `is_global` decides, with the operator's private ranges as the
    only exception, and metadata, link-local, multicast and unspecified refused before anything."""
    if ip in METADATA_ADDRESSES:
        return "cloud metadata address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_unspecified or ip.is_multicast:
        return "unroutable address"
    if any(ip in net for net in _PRIVATE_USE):
        return None if allow_private else "private or loopback address (not allowed on this server)"
    if ip.is_reserved:
        return "unroutable address"
    if not _is_global(ip):
        return "non-global address (special-purpose range)"
    return None


def classify(address: str, *, allow_private: bool) -> str | None:
    """None when the address may be called, else the reason it may not.

    An IPv6 address that only spells an IPv4 one (mapped, compatible, NAT64) is judged as that
    IPv4 address. A tunnel address (6to4, Teredo) is judged itself and by the IPv4 endpoints it
    embeds, which must be global: no receiver of ours is reached through a tunnel to a private host.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        ip = _translated(ip) or ip
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in _tunnelled(ip):
            reason = _reason(inner, allow_private=False)
            if reason == "cloud metadata address":
                return reason
            if reason:
                return "tunnel address (6to4 or Teredo) to a non-global IPv4 address"
    return _reason(ip, allow_private=allow_private)


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
