"""Inbound sender authentication: SPF (pyspf), DKIM (dkimpy) and DMARC, and the
Authentication-Results header (authres) stamped on the stored message.

Everything goes through one injectable resolver so tests and offline servers never touch DNS:

- a resolver is a callable `txt(name) -> list[str]` (the TXT records at `name`, [] for none);
- it may also have `query(name, rdtype) -> list` for the A/AAAA/MX/PTR lookups some SPF
  mechanisms need (A/AAAA/PTR: strings; MX: (preference, host) pairs);
- any exception it raises is a temporary DNS failure: the check reports `temperror`, never crashes.

All the look-ups of one message share one deadline (MESSAGE_DNS_SECONDS, each look-up at most
DNS_TIMEOUT_SECONDS): running out is a `temperror`, never a pass. The message is parsed once, and
at most MAX_SIGNATURES DKIM signatures are checked (those aligned with From first), in the one
DKIM loop of mail/dkim.py that verify_message uses too.

`DNSResolver` is the default (dnspython, short timeouts); `StaticResolver` answers from a dict,
e.g. the JSON file named by `MULTIMAIL_DNS_OVERRIDES` (a testing / offline feature).

No web or database imports here: the SMTP receiver calls `authenticate_inbound` off the event loop.
"""

from __future__ import annotations

import ipaddress
import json
import re
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Callable

import authres
import authres.dmarc
import dkim
import idna
import spf
from dkim.util import InvalidTagValueList, parse_tag_value
from publicsuffixlist import PublicSuffixList

from . import dkim as dkim_policy
from .dkim import Deadline

Resolver = Callable[[str], list[str]]

DNS_TIMEOUT_SECONDS = 3.0  # one look-up
# All the look-ups of one message together (SPF with its includes, DKIM keys, DMARC records):
# a sender's slow or hostile DNS cannot hold a receiving thread longer than this.
MESSAGE_DNS_SECONDS = 10.0


class DNSTempError(Exception):
    """A DNS lookup failed temporarily (timeout, SERVFAIL, no nameservers)."""


# ---------------------------------------------------------------------------------------------
# Resolvers


def _norm_name(name: str) -> str:
    return str(name).strip().rstrip(".").lower()


class DNSResolver:
    """Real DNS through dnspython with a short timeout; NXDOMAIN/NODATA are [], failures raise."""

    def __init__(self, timeout: float = DNS_TIMEOUT_SECONDS):
        self.timeout = timeout

    def __call__(self, name: str) -> list[str]:
        return self.query(name, "TXT")

    def query(self, name: str, rdtype: str, timeout: float | None = None) -> list[Any]:
        import dns.exception
        import dns.resolver

        try:
            answers = dns.resolver.resolve(_norm_name(name), rdtype, lifetime=min(timeout or self.timeout, self.timeout),
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
        self.records = {_norm_name(k): v for k, v in (records or {}).items()}

    @classmethod
    def from_file(cls, path: str | Path) -> "StaticResolver":
        return cls(json.loads(Path(path).read_text()))

    def __call__(self, name: str) -> list[str]:
        return self.query(name, "TXT")

    def query(self, name: str, rdtype: str) -> list[Any]:
        value = self.records.get(_norm_name(name))
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
        return _lookup(self.inner, name, rdtype, timeout=min(timeout or left, left))


def _lookup(resolver: Resolver, name: str, rdtype: str, *, timeout: float | None = None) -> list[Any]:
    if isinstance(resolver, (DNSResolver, DeadlineResolver)):
        return list(resolver.query(name, rdtype, timeout=timeout))
    if rdtype == "TXT":
        return list(resolver(name))
    query = getattr(resolver, "query", None)
    return list(query(name, rdtype)) if query is not None else []


# ---------------------------------------------------------------------------------------------
# Domains and alignment

# The organisational domain (RFC 7489 section 3.2) comes from the Public Suffix List bundled with
# `publicsuffixlist` (offline, ICANN and private sections), so `evil.com.vn` and `victim.com.vn`,
# or `a.github.io` and `b.github.io`, are different organisations.
_PSL = PublicSuffixList()


def normalize_domain(name: str) -> str:
    """The one form domains are compared in: IDNA A-labels after UTS #46 mapping (so `BÜCHER.test.`
    and `xn--bcher-kva.test` are the same name), lower case, no trailing dot. A name IDNA refuses
    (an underscore label, an address literal) is only lower-cased: it then matches only itself."""
    text = str(name).strip().rstrip(".")
    if text.isascii():  # what UTS #46 does to ASCII is lower-casing (idna.encode is slow: not for every name)
        return text.lower()
    try:
        return idna.encode(text, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return text.lower()


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


def _domain_of(address: str | None) -> str | None:
    if not address:
        return None
    address = address.strip().strip("<>")
    if "@" not in address:
        return None
    domain = normalize_domain(address.rpartition("@")[2])
    return domain or None


def from_domain_of(raw: bytes) -> tuple[str | None, str | None]:
    """(RFC5322.From domain, problem) — see `_from_domain`."""
    try:
        headers, _body = dkim.rfc822_parse(raw)
    except Exception:
        return None, "unparseable From"
    return from_domain_in(headers)


def from_domain_in(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """(RFC5322.From domain, normalised, problem): the problem is set for a missing From, several
    From addresses in different domains, or an address without a domain. Header bytes are UTF-8
    (RFC 6532 allows an internationalised domain there)."""
    values = [" ".join(bytes(v).decode("utf-8", "replace").split()) for k, v in headers if bytes(k).lower() == b"from"]
    if not values:
        return None, "no From"
    try:
        addresses = getaddresses(values)
    except Exception:
        return None, "unparseable From"
    domains = {_domain_of(addr) for _, addr in addresses}
    domains.discard(None)
    if len(domains) != 1:
        return None, "no From domain" if not domains else "several From domains"
    return domains.pop(), None


# ---------------------------------------------------------------------------------------------
# SPF


class _SPFQuery(spf.query):
    """pyspf with its DNS replaced by our resolver (per instance, no global monkeypatching)."""

    def __init__(self, resolver: Resolver, **kw: Any):
        super().__init__(**kw)
        self._resolver = resolver

    def dns(self, name, qtype, cnames=None, ignore_void=False):  # noqa: D401 - pyspf's signature
        if not name:
            raise spf.PermError("Invalid query")
        name = _norm_name(name)
        if not all(0 < len(label) < 64 for label in name.split(".")):
            return []
        key = (name, qtype)
        if key in self.cache:
            return self.cache[key]
        try:
            values = _lookup(self._resolver, name, "TXT" if qtype == "SPF" else qtype)
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
                raise spf.PermError("Void lookup limit of %d exceeded" % spf.MAX_VOID_LOOKUPS)
        return result


def check_spf(ip: str | None, helo: str | None, mail_from: str | None, resolver: Resolver) -> dict[str, Any]:
    """SPF for the MAIL FROM domain (or the HELO name for a null sender)."""
    mail_from = (mail_from or "").strip().strip("<>")
    helo = (helo or "").strip()
    domain = _domain_of(mail_from) or (_norm_name(helo) if helo else None)
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


# ---------------------------------------------------------------------------------------------
# DKIM


def check_dkim(raw: "bytes | dkim.DKIM", resolver: Resolver, *, from_domain: str | None = None,
               deadline: Deadline | None = None) -> list[dict[str, Any]]:
    """One result per checked DKIM-Signature (pass, fail, temperror or permerror): at most
    MAX_SIGNATURES, those aligned with the From domain first (mail/dkim.py's one loop)."""
    return _check_dkim(raw, resolver, from_domain=from_domain, deadline=deadline)[0]


def _check_dkim(message: "bytes | dkim.DKIM", resolver: Resolver, *, from_domain: str | None,
                deadline: Deadline | None) -> tuple[list[dict[str, Any]], int]:
    def fetch(domain: str, selector: str, timeout: float) -> tuple[bytes | None, str]:
        records = _lookup(resolver, f"{selector}._domainkey.{domain}", "TXT", timeout=timeout)
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


# ---------------------------------------------------------------------------------------------
# DMARC


def _dmarc_record(resolver: Resolver, domain: str) -> dict[str, str] | None:
    """The DMARC record's tags (RFC 7489 section 6.4: DKIM's tag=value syntax, dkimpy's parser);
    None for no record, several records, or one that does not parse (RFC 7489 section 6.6.3)."""
    records = [r for r in _lookup(resolver, f"_dmarc.{domain}", "TXT") if r.strip().lower().startswith("v=dmarc1")]
    if len(records) != 1:
        return None
    try:
        tags = parse_tag_value(records[0].encode("utf-8", "replace"))
    except InvalidTagValueList:
        return None
    return {k.decode("ascii", "replace").lower(): "".join(v.decode("utf-8", "replace").split()) for k, v in tags.items()}


def check_dmarc(from_domain: str | None, spf_result: dict[str, Any], dkim_results: list[dict[str, Any]], resolver: Resolver) -> dict[str, Any]:
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


# ---------------------------------------------------------------------------------------------
# The whole check, and the Authentication-Results header


def check_message(
    raw: bytes, *, ip: str | None, helo: str | None, mail_from: str | None, resolver: Resolver | None = None,
    dns_seconds: float = MESSAGE_DNS_SECONDS,
) -> dict[str, Any]:
    """SPF, DKIM and DMARC for one message, parsed once, all DNS within `dns_seconds`."""
    resolver = DeadlineResolver(resolver or DNSResolver(), Deadline(dns_seconds, per_lookup=DNS_TIMEOUT_SECONDS))
    try:
        message = dkim_policy.load(raw)
        from_domain, _problem = from_domain_in(message.headers)
    except Exception:  # not a message at all: nothing to check but SPF
        message, from_domain = None, None
    spf_result = check_spf(ip, helo, mail_from, resolver)
    dkim_results, not_checked = (_check_dkim(message, resolver, from_domain=from_domain, deadline=resolver.deadline)
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


_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~@\-\[\]:]+$")


def _safe(value: str | None) -> str | None:
    """Only plain tokens go into the header (no spaces, semicolons, quotes or line breaks)."""
    return value if value and _SAFE_TOKEN.match(value) else None


def authentication_results_header(auth: dict[str, Any], authserv_id: str, *, mail_from: str | None = None, helo: str | None = None) -> str:
    """The `Authentication-Results: ...` field (no trailing CRLF), built with authres."""
    mail_from = (mail_from or "").strip().strip("<>")
    spf_r = auth["spf"]
    results: list[Any] = [
        authres.SPFAuthenticationResult(
            result=spf_r["result"],
            smtp_mailfrom=_safe(mail_from),
            smtp_helo=_safe((helo or "").strip()) if not mail_from else None,
        )
    ]
    if auth["dkim"]:
        for d in auth["dkim"]:
            results.append(authres.DKIMAuthenticationResult(result=d["result"], header_d=_safe(d.get("domain")), header_s=_safe(d.get("selector"))))
    else:
        results.append(authres.DKIMAuthenticationResult(result="none"))
    dm = auth["dmarc"]
    results.append(authres.dmarc.DMARCAuthenticationResult(result=dm["result"], header_from=_safe(auth.get("from_domain"))))
    header = authres.AuthenticationResultsHeader(authserv_id=_safe(authserv_id) or "localhost", results=results)
    # authres joins results with "; "; fold between results so lines stay short.
    text = str(header)
    return text.replace("; ", ";\r\n\t")


_AR_NAME = re.compile(rb"^authentication-results[ \t]*:", re.IGNORECASE)
_AR_AUTHSERV = re.compile(rb"^[^:]*:\s*(?:\([^)]*\)\s*)*([^\s;()]+)")


def _split_header_block(raw: bytes) -> tuple[list[bytes], bytes]:
    """Header fields (each with its continuation lines and line endings) and the rest."""
    fields: list[bytes] = []
    pos = 0
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        line = raw[pos:] if end < 0 else raw[pos : end + 1]
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        elif b":" not in line.split(b"\n")[0] and not fields:
            break  # not a header block at all
        else:
            fields.append(line)
        pos += len(line)
    return fields, raw[pos:]


def strip_authentication_results(raw: bytes, authserv_id: str) -> bytes:
    """Drop incoming Authentication-Results fields that claim to be ours (RFC 8601 section 5)."""
    ours = authserv_id.strip().lower().encode()
    fields, rest = _split_header_block(raw)
    kept = []
    for f in fields:
        if _AR_NAME.match(f):
            m = _AR_AUTHSERV.match(re.sub(rb"\r?\n[ \t]", b" ", f))
            if m is None or m.group(1).lower() == ours:
                continue
        kept.append(f)
    return b"".join(kept) + rest


def stamp(raw: bytes, auth: dict[str, Any], authserv_id: str, *, mail_from: str | None = None, helo: str | None = None) -> bytes:
    """`raw` without spoofed results of ours, with our Authentication-Results prepended."""
    header = authentication_results_header(auth, authserv_id, mail_from=mail_from, helo=helo)
    return header.encode("ascii", "replace") + b"\r\n" + strip_authentication_results(raw, authserv_id)


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

