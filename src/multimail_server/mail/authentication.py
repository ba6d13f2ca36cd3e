"""Inbound sender authentication: SPF (mail/spf.py), DKIM (mail/dkim.py) and DMARC
(mail/dmarc.py) for one message, and the Authentication-Results header (mail/auth_results.py)
stamped on the stored copy.

The message is parsed once, and all its DNS look-ups share one deadline (mail/dns.py): running
out is a `temperror`, never a pass. At most MAX_SIGNATURES DKIM signatures are checked (those
aligned with From first), in the one DKIM loop of mail/dkim.py that verify_message uses too.

No web or database imports here: the SMTP receiver calls `authenticate_inbound` off the event loop.
"""

from __future__ import annotations

from typing import Any

import dkim

from . import dkim as dkim_policy
from .auth_results import stamp
from .dmarc import aligned_with, check_dmarc
from .dns import DNS_TIMEOUT_SECONDS, MESSAGE_DNS_SECONDS, Deadline, DeadlineResolver, DNSResolver, Resolver, lookup
from .domains import from_domain_in, normalize_domain
from .spf import check_spf


def check_dkim(message: bytes | dkim.DKIM, resolver: Resolver, *, from_domain: str | None = None,
               deadline: Deadline | None = None) -> tuple[list[dict[str, Any]], int]:
    """(one result per checked DKIM-Signature: pass, fail, temperror or permerror; the number
    left unchecked): at most MAX_SIGNATURES, those aligned with the From domain first (mail/dkim.py's
    one loop), each key looked up through `resolver`."""
    def fetch(domain: str, selector: str, timeout: float) -> tuple[bytes | None, str]:
        records = lookup(resolver, f"{selector}._domainkey.{domain}", "TXT", timeout=timeout)
        return (records[0].encode("utf-8", "replace") if records else None), "dns"

    prefer = aligned_with(from_domain) if from_domain else None
    try:
        entries, skipped = dkim_policy.check_signatures(message, fetch=fetch, prefer=prefer, deadline=deadline)
    except dkim.MessageFormatError:
        return [], 0
    results = []
    for e in entries:
        entry = {"result": e["result"], "domain": normalize_domain(e["domain"]) if e["domain"] else None,
                 "selector": e["selector"]}
        if e["result"] != "pass" and e["error"]:
            entry["reason"] = e["error"][:200]
        results.append(entry)
    return results, skipped


def check_message(
    raw: bytes, *, ip: str | None, helo: str | None, mail_from: str | None, resolver: Resolver | None = None,
    dns_seconds: float = MESSAGE_DNS_SECONDS,
) -> dict[str, Any]:
    """SPF, DKIM and DMARC for one message, parsed once, all DNS within `dns_seconds`."""
    resolver = DeadlineResolver(resolver or DNSResolver(), Deadline(dns_seconds, per_lookup=DNS_TIMEOUT_SECONDS))
    try:
        message = dkim_policy.load_for_checks(raw)
        from_domain, _problem = from_domain_in(message.headers)
    except Exception:  # not a message at all: nothing to check but SPF
        message, from_domain = None, None
    spf_result = check_spf(ip, helo, mail_from, resolver)
    dkim_results, not_checked = (check_dkim(message, resolver, from_domain=from_domain, deadline=resolver.deadline)
                                 if message is not None else ([], 0))
    dmarc_result = check_dmarc(from_domain, spf_result, dkim_results, resolver)
    auth = {
        "spf": spf_result,
        "dkim": dkim_results,
        "dmarc": dmarc_result,
        "verified_sender": dmarc_result["result"] == "pass",
        "from_domain": from_domain,
    }
    if not_checked:
        auth["dkim_signatures_not_checked"] = not_checked
    return auth


def authenticate_inbound(
    raw: bytes,
    *,
    ip: str | None,
    helo: str | None,
    mail_from: str | None,
    authserv_id: str,
    resolver: Resolver | None = None,
) -> tuple[dict[str, Any], bytes]:
    """The `authentication` dict for a message received over SMTP and the raw bytes to store."""
    auth = check_message(raw, ip=ip, helo=helo, mail_from=mail_from, resolver=resolver)
    return auth, stamp(raw, auth, authserv_id, mail_from=mail_from, helo=helo)

