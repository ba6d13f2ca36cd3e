"""SPF (RFC 7208, pyspf) for the MAIL FROM domain, or the HELO name of a null sender, with its
DNS through the message's resolver (so its look-ups share the message's deadline).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import spf

from .dns import DNS_TIMEOUT_SECONDS, Resolver, lookup, norm_name
from .domains import domain_of


class _SPFQuery(spf.query):
    """pyspf with its DNS replaced by our resolver (per instance, no global monkeypatching)."""

    def __init__(self, resolver: Resolver, **kw: Any):
        super().__init__(**kw)
        self._resolver = resolver

    def dns(self, name, qtype, cnames=None, ignore_void=False):  # noqa: D401 - pyspf's signature
        if not name:
            raise spf.PermError("Invalid query")
        name = norm_name(name)
        if not all(0 < len(label) < 64 for label in name.split(".")):
            return []
        key = (name, qtype)
        if key in self.cache:
            return self.cache[key]
        try:
            values = lookup(self._resolver, name, "TXT" if qtype == "SPF" else qtype)
        except Exception as exc:
            raise spf.TempError(f"DNS {exc}") from None
        if qtype in ("TXT", "SPF"):
            result = [[v if isinstance(v, (bytes, str)) else str(v)] for v in values]
        else:
            result = list(values)
        self.cache[key] = result
        if not result and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
        return result


def check_spf(ip: str | None, helo: str | None, mail_from: str | None, resolver: Resolver) -> dict[str, Any]:
    """SPF for the MAIL FROM domain (or the HELO name for a null sender)."""
    mail_from = (mail_from or "").strip().strip("<>")
    helo = (helo or "").strip()
    domain = domain_of(mail_from) or (norm_name(helo) if helo else None)
    if not ip or not domain:
        return {"result": "none", "domain": domain, "reason": "no client IP" if not ip else "no sender domain"}
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return {"result": "none", "domain": domain, "reason": "client IP is not an address"}
    try:
        q = _SPFQuery(resolver, i=ip, s=mail_from or f"postmaster@{domain}", h=helo or domain, timeout=DNS_TIMEOUT_SECONDS)
        result, _code, explanation = q.check()
    except Exception as exc:  # pyspf raises on some malformed input; never let it crash
        return {"result": "temperror", "domain": domain, "reason": str(exc)[:200]}
    result = {"ambiguous": "permerror", "error": "temperror", "unknown": "permerror", "deny": "fail"}.get(result, result)
    return {"result": result, "domain": domain, "reason": str(explanation)[:200]}
