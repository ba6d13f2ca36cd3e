"""DMARC (RFC 7489): organisational domains (the Public Suffix List), alignment, the record
lookup, and the verdict from SPF's and DKIM's results.

The organisational domain decides who may speak for whom: identity issuers (services/identity.py)
use the same rule, so a domain is trusted for mail and for claims by one definition.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from dkim.util import InvalidTagValueList, parse_tag_value
from publicsuffixlist import PublicSuffixList

from .dns import Resolver, lookup
from .domains import normalize_domain

# The organisational domain (RFC 7489 section 3.2) comes from the Public Suffix List bundled with
# `publicsuffixlist` (offline, ICANN and private sections), so `evil.com.vn` and `victim.com.vn`,
# or `a.github.io` and `b.github.io`, are different organisations.
_PSL = PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """The public suffix of `domain` plus one label; a name that is itself a public suffix (`com.vn`,
    `github.io`) or an address literal is its own organisational domain, aligned with nothing else."""
    name = normalize_domain(domain)
    if name.startswith("[") or _is_ip(name):
        return name
    return _PSL.privatesuffix(name) or name


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def aligned(domain: str | None, from_domain: str, mode: str) -> bool:
    """Whether `domain` aligns with the From domain: the same name in strict mode (`s`), the same
    organisational domain in relaxed mode (RFC 7489 section 3.1)."""
    if not domain:
        return False
    a, b = normalize_domain(domain), normalize_domain(from_domain)
    if mode == "s":
        return a == b
    return organizational_domain(a) == organizational_domain(b)


def aligned_with(from_domain: str) -> Callable[[str], bool]:
    """A fast test of relaxed alignment with one From domain, for many candidate domains (one per
    DKIM signature of a message): a domain can only share the organisational domain if it ends
    with it, which a string comparison settles before any Public Suffix List lookup."""
    org = organizational_domain(from_domain)

    def test(domain: str) -> bool:
        name = normalize_domain(domain)
        return (name == org or name.endswith("." + org)) and organizational_domain(name) == org

    return test


def _dmarc_record(resolver: Resolver, domain: str) -> dict[str, str] | None:
    """The DMARC record's tags (RFC 7489 section 6.4: DKIM's tag=value syntax, dkimpy's parser);
    None for no record, several records, or one that does not parse (RFC 7489 section 6.6.3)."""
    records = [r for r in lookup(resolver, f"_dmarc.{domain}", "TXT") if r.strip().lower().startswith("v=dmarc1")]
    if len(records) != 1:
        return None
    try:
        tags = parse_tag_value(records[0].encode("utf-8", "replace"))
    except InvalidTagValueList:
        return None
    return {k.decode("ascii", "replace").lower(): "".join(v.decode("utf-8", "replace").split()) for k, v in tags.items()}


def check_dmarc(from_domain: str | None, spf_result: dict[str, Any], dkim_results: list[dict[str, Any]], resolver: Resolver) -> dict[str, Any]:
    """DMARC (RFC 7489) for the From domain: its record (or its organisational domain's), and
    whether a passing SPF or DKIM result aligns with it. A DNS failure is a temperror."""
    if not from_domain:
        return {"result": "none", "policy": None, "domain": None}
    org = organizational_domain(from_domain)
    try:
        record, record_domain = _dmarc_record(resolver, from_domain), from_domain
        if record is None and org != from_domain:
            record, record_domain = _dmarc_record(resolver, org), org
    except Exception as exc:
        return {"result": "temperror", "policy": None, "domain": from_domain, "reason": str(exc)[:200]}
    if record is None:
        return {"result": "none", "policy": None, "domain": from_domain}
    policy = record.get("p", "").lower()
    if record_domain != from_domain and record.get("sp"):
        policy = record["sp"].lower()
    if policy not in ("none", "quarantine", "reject"):
        policy = "none"
    spf_aligned = spf_result.get("result") == "pass" and aligned(spf_result.get("domain"), from_domain, record.get("aspf", "r").lower())
    dkim_aligned = any(
        d["result"] == "pass" and aligned(d.get("domain"), from_domain, record.get("adkim", "r").lower()) for d in dkim_results
    )
    return {
        "result": "pass" if (spf_aligned or dkim_aligned) else "fail",
        "policy": policy,
        "domain": from_domain,
        "record_domain": record_domain,
        "spf_aligned": spf_aligned,
        "dkim_aligned": dkim_aligned,
    }
