"""DNS for the checks of inbound mail: the resolvers, and the deadline one message's look-ups share.

Everything goes through one injectable resolver so tests and offline servers never touch DNS:

- a resolver is a callable `txt(name) -> list[str]` (the TXT records at `name`, [] for none);
- it may also have `query(name, rdtype) -> list` for the A/AAAA/MX/PTR lookups some SPF
  mechanisms need (A/AAAA/PTR: strings; MX: (preference, host) pairs);
- any exception it raises is a temporary DNS failure: the checks report `temperror`, never crash.

All the look-ups of one message share one `Deadline` (MESSAGE_DNS_SECONDS, each look-up at most
DNS_TIMEOUT_SECONDS): running out is a `temperror`, never a pass.

`DNSResolver` is the default (dnspython, short timeouts); `StaticResolver` answers from a dict,
e.g. the JSON file named by `MULTIMAIL_DNS_OVERRIDES` (a testing / offline feature).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.exception
import dns.resolver

Resolver = Callable[[str], list[str]]

DNS_TIMEOUT_SECONDS = 3.0  # one look-up
# All the look-ups of one message together (SPF with its includes, DKIM keys, DMARC records):
# a sender's slow or hostile DNS cannot hold a receiving thread longer than this.
MESSAGE_DNS_SECONDS = 10.0


class DNSTempError(Exception):
    """A DNS lookup failed temporarily (timeout, SERVFAIL, no nameservers)."""


class DeadlineExceeded(Exception):
    """The DNS time allowed for one message is used up: what is still unchecked is a temperror."""


class Deadline:
    """The DNS time one message may use, shared by all its look-ups (SPF, DKIM, DMARC): each
    look-up gets at most `per_lookup` seconds and never more than what is left."""

    def __init__(self, seconds: float, *, per_lookup: float = DNS_TIMEOUT_SECONDS):
        self.expires = time.monotonic() + seconds
        self.per_lookup = per_lookup

    def timeout(self) -> float:
        """The time the next look-up may take; DeadlineExceeded when none is left."""
        left = self.expires - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("the DNS time allowed for this message ran out")
        return min(self.per_lookup, left)


def norm_name(name: str) -> str:
    """A DNS name as looked up and as a key of StaticResolver: no trailing dot, lower case."""
    return str(name).strip().rstrip(".").lower()


class DNSResolver:
    """Real DNS through dnspython with a short timeout; NXDOMAIN/NODATA are [], failures raise."""

    def __init__(self, timeout: float = DNS_TIMEOUT_SECONDS):
        self.timeout = timeout

    def __call__(self, name: str) -> list[str]:
        return self.query(name, "TXT")

    def query(self, name: str, rdtype: str, timeout: float | None = None) -> list[Any]:
        try:
            answers = dns.resolver.resolve(norm_name(name), rdtype, lifetime=min(timeout or self.timeout, self.timeout),
                                           search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as exc:
            raise DNSTempError(f"{rdtype} {name}: {exc.__class__.__name__}") from exc
        out: list[Any] = []
        for rdata in answers:
            if rdtype in ("TXT", "SPF"):
                out.append(b"".join(rdata.strings).decode("utf-8", "replace"))
            elif rdtype in ("A", "AAAA"):
                out.append(rdata.address)
            elif rdtype == "MX":
                out.append((rdata.preference, rdata.exchange.to_text(omit_final_dot=True)))
            elif rdtype == "PTR":
                out.append(rdata.target.to_text(omit_final_dot=True))
        return out


class StaticResolver:
    """DNS answers from a dict, for tests and offline use. Keys are names; a value is either a
    list of TXT strings, or a dict of record types (`{"TXT": [...], "A": [...], "MX": [[10, "mx.x"]]}`),
    or the string "TEMPERROR" (the lookup fails). Names not listed do not exist."""

    def __init__(self, records: dict[str, Any]):
        self.records = {norm_name(k): v for k, v in (records or {}).items()}

    @classmethod
    def from_file(cls, path: str | Path) -> StaticResolver:
        return cls(json.loads(Path(path).read_text()))

    def __call__(self, name: str) -> list[str]:
        return self.query(name, "TXT")

    def query(self, name: str, rdtype: str) -> list[Any]:
        value = self.records.get(norm_name(name))
        if value is None:
            return []
        if isinstance(value, str) and value.upper() == "TEMPERROR":
            raise DNSTempError(f"{rdtype} {name}: configured failure")
        if isinstance(value, list):
            return [str(v) for v in value] if rdtype in ("TXT", "SPF") else []
        if isinstance(value, dict):
            got = value.get(rdtype) or []
            if isinstance(got, str) and got.upper() == "TEMPERROR":
                raise DNSTempError(f"{rdtype} {name}: configured failure")
            if rdtype == "MX":
                return [(int(p), str(h)) for p, h in got]
            return [str(v) for v in got]
        return []


class DeadlineResolver:
    """A resolver that gives all the look-ups of one message one shared deadline: each look-up is
    bounded by what is left (real DNS is asked with that as its timeout), and once it is used up
    every further look-up fails at once, which the checks report as temperror."""

    def __init__(self, inner: Resolver, deadline: Deadline):
        self.inner = inner
        self.deadline = deadline

    def __call__(self, name: str) -> list[str]:
        return self.query(name, "TXT")

    def query(self, name: str, rdtype: str, timeout: float | None = None) -> list[Any]:
        left = self.deadline.timeout()  # DeadlineExceeded when nothing is left
        return lookup(self.inner, name, rdtype, timeout=min(timeout or left, left))


def lookup(resolver: Resolver, name: str, rdtype: str, *, timeout: float | None = None) -> list[Any]:
    """The `rdtype` records at `name` from any resolver: a plain `txt(name)` callable answers only
    TXT (other types are then []); `timeout` reaches only resolvers that take one."""
    if isinstance(resolver, (DNSResolver, DeadlineResolver)):
        return list(resolver.query(name, rdtype, timeout=timeout))
    if rdtype == "TXT":
        return list(resolver(name))
    query = getattr(resolver, "query", None)
    return list(query(name, rdtype)) if query is not None else []
