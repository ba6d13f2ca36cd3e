"""DKIM (RFC 6376) for outgoing mail, inbound mail and verify_message: key generation, the DNS
records to publish, signing and verifying. dkimpy does the protocol; this module only chooses the
policy (RSA-2048, relaxed/relaxed, which headers; which signatures to check, how many, within what
DNS time) and makes the key lookup injectable.

No web or database imports: callers pass keys in and get plain data back.
"""

from __future__ import annotations

import base64
import logging
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import dkim as dkimpy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dkim.util import InvalidTagValueList, parse_tag_value

from .dns import DNS_TIMEOUT_SECONDS, Deadline

KEY_BITS = 2048
DEFAULT_SELECTOR = "multimail"

# Signed headers, in this order. A header listed but absent is signed as absent (dkimpy "oversigns"
# it), so a Cc, In-Reply-To, ... cannot be added afterwards without breaking the signature.
SIGNED_HEADERS = (
    "From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
    "MIME-Version", "Content-Type", "X-MultiMail-Identity",
)

# dkimpy logs every verification failure at ERROR level; a forged message is not our error.
_quiet = logging.getLogger("multimail.dkim")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False

MessageFormatError = dkimpy.MessageFormatError
parse = dkimpy.rfc822_parse  # (headers [(name, value)], body); MessageFormatError when not a message
dns_txt = dkimpy.get_txt  # the default resolver (dnspython)

# (name, timeout=...) -> the TXT record as bytes, or None; dkimpy's own signature for dnsfunc.
DnsFunc = Callable[..., Any]
# (domain, selector) -> the base64 public key stored on this server, or None.
LocalKeyLookup = Callable[[str, str], "str | None"]


def generate_key() -> tuple[str, str]:
    """A new RSA-2048 key: (private key PEM, base64 DER SubjectPublicKeyInfo as in the `p=` tag)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private_pem, base64.b64encode(public_der).decode("ascii")


def txt_value(public_key_b64: str) -> str:
    return f"v=DKIM1; k=rsa; p={public_key_b64}"


def dns_records(domain: str, selector: str, public_key_b64: str) -> list[dict[str, str]]:
    """The records to publish for `domain`: the DKIM key (required), SPF and DMARC (recommended)."""
    return [
        {"type": "TXT", "name": f"{selector}._domainkey.{domain}", "value": txt_value(public_key_b64),
         "purpose": "DKIM public key (required for DKIM to verify)"},
        {"type": "TXT", "name": domain, "value": "v=spf1 mx a ~all",
         "purpose": "SPF (recommended; add your relay, e.g. include:<relay's SPF domain>, if mail leaves through one)"},
        {"type": "TXT", "name": f"_dmarc.{domain}", "value": f"v=DMARC1; p=none; adkim=r; aspf=r; rua=mailto:dmarc@{domain}",
         "purpose": "DMARC (recommended; p=none only monitors: move to p=quarantine once reports show all your mail passes)"},
    ]


def sign(raw: bytes, *, domain: str, selector: str, private_key_pem: str) -> bytes:
    """`raw` with a DKIM-Signature header (rsa-sha256, relaxed/relaxed) prepended."""
    linesep = b"\r\n" if b"\r\n" in raw else b"\n"
    signature = dkimpy.sign(
        raw,
        selector.encode("ascii"),
        domain.encode("ascii"),
        private_key_pem.encode("ascii"),
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=[h.encode("ascii") for h in SIGNED_HEADERS],
        logger=_quiet,
        linesep=linesep,
    )
    return signature + raw


# ---------------------------------------------------------------------------------------------
# Verifying: the one loop over a message's DKIM-Signature headers (inbound mail and verify_message)

# RFC 6376 section 6.1: a verifier may limit the signatures it checks. Each one costs a key lookup
# and a body hash, so an attacker's hundreds of bogus signatures cost no more than this many.
MAX_SIGNATURES = 5
# (domain, selector, timeout) -> (the key record as bytes or None when there is none, where it came
# from: "local" or "dns"); raising is a temporary failure (temperror).
KeyFetch = Callable[[str, str, float], "tuple[bytes | None, str | None]"]


def load(raw: bytes) -> dkimpy.DKIM:
    """The message parsed once (dkimpy's verifier holds headers and body); MessageFormatError."""
    return dkimpy.DKIM(raw, logger=_quiet)


# Where dkimpy's parser (rfc822_parse: lines split on CRLF or LF) sees the first empty line.
_END_OF_HEADERS = re.compile(rb"(?:\A|\n)\r?\n")


def header_block(raw: bytes) -> bytes:
    """The bytes of `raw` before the first empty line, as `parse` reads them (all of it when
    there is none): what a header can be looked for in without splitting the body into lines."""
    end = _END_OF_HEADERS.search(raw)
    return raw if end is None else raw[:end.start()]


def load_for_checks(raw: bytes) -> dkimpy.DKIM:
    """As `load`, but without the body when no header names a DKIM signature: only a signature's
    body hash reads the body, and dkimpy splits the whole message into lines (a millisecond for
    100 KB, most of the sender checks' CPU). The headers it holds are the same either way."""
    block = header_block(raw)
    # The empty line is where header_block stopped; `match` at that offset only measures it
    # (\A cannot match past the start), and finds none when the block is the whole message.
    end = _END_OF_HEADERS.match(raw, len(block))
    if end is not None and b"dkim-signature" not in block.lower():
        raw = raw[:end.end()]
    return load(raw)


def signature_tags(value: bytes) -> dict[str, str] | None:
    """The tags of a DKIM-Signature value (dkimpy's tag=value parser), text without folding
    whitespace; None when the value is not a tag list."""
    try:
        tags = parse_tag_value(re.sub(rb"\r?\n[ \t]", b" ", bytes(value)))
    except InvalidTagValueList:
        return None
    return {k.decode("ascii", "replace"): v.decode("ascii", "replace") for k, v in tags.items()}


def _entry(index: int, tags: dict[str, str] | None) -> dict[str, Any]:
    tags = tags or {}
    return {
        "index": index,
        "result": "permerror",
        "domain": "".join(tags.get("d", "").split()) or None,
        "selector": "".join(tags.get("s", "").split()) or None,
        "algorithm": "".join(tags.get("a", "").split()) or None,
        "canonicalization": "".join(tags.get("c", "").split()) or None,
        "signed_headers": [h.strip() for h in tags.get("h", "").split(":") if h.strip()],
        "key_source": None,
        "error": None,
    }


_D_TAG = re.compile(rb"(?:^|;)\s*d\s*=\s*([^;\s]+)")


def _chosen(values: list[bytes], prefer: Callable[[str], bool] | None, limit: int) -> list[int]:
    """The indices of at most `limit` signatures: first those whose d= `prefer` likes (aligned
    with From), then the rest, each group in header order. Only the d= tag of each is read here
    (a message may carry a hundred thousand signature fields); the chosen ones are parsed fully."""
    liked: list[int] = []
    if prefer is not None:
        for index, value in enumerate(values):
            match = _D_TAG.search(bytes(value))
            if match and prefer(match.group(1).decode("ascii", "replace")):
                liked.append(index)
                if len(liked) == limit:
                    break
    rest = [index for index in range(min(len(values), limit + len(liked))) if index not in liked]
    return (liked + rest)[:limit]


class _KeyRequest:
    """The dnsfunc dkimpy calls for one signature: asks `fetch` and remembers what happened (a
    failure is re-raised for dkimpy and kept here: dkimpy turns some into a plain False)."""

    def __init__(self, fetch: KeyFetch, deadline: Deadline | None):
        self.fetch = fetch
        self.deadline = deadline
        self.source: str | None = None
        self.missing = False
        self.failure: Exception | None = None

    def __call__(self, name: bytes, timeout: float = DNS_TIMEOUT_SECONDS) -> bytes | None:
        qname = name.decode("ascii", "replace").rstrip(".")
        selector, _, domain = qname.partition("._domainkey.")
        try:
            if self.deadline is not None:
                timeout = min(timeout, self.deadline.timeout())
            record, self.source = self.fetch(domain.lower(), selector, timeout)
        except Exception as exc:
            self.failure = exc
            raise
        self.missing = record is None
        return record


class _FieldIndex:
    """Where each header field name occurs, built once per message, to hand dkimpy only the fields
    one signature's verification can use: dkimpy canonicalises every field it holds, for every
    signature, and a message may carry hundreds of thousands of them."""

    def __init__(self, headers: list[tuple[bytes, bytes]]):
        self.headers = headers
        self.positions: dict[bytes, list[int]] = {}
        for pos, (name, _) in enumerate(headers):
            self.positions.setdefault(bytes(name).lower(), []).append(pos)

    def fields_for(self, signed: list[str], index: int) -> tuple[list[tuple[bytes, bytes]], int]:
        """(fields, the signature's index among the DKIM-Signature fields in them): the signature
        itself and, of each name in h=, the last as many instances as h= names it (one more for
        From, which dkimpy adds), in header order. dkimpy picks signed fields from the bottom, so
        the hash is the same as over all fields."""
        wanted = Counter(name.lower().encode("ascii", "replace") for name in signed)
        if b"from" in wanted:
            wanted[b"from"] += 1
        own = self.positions[b"dkim-signature"][index]
        keep = {own}
        for name, count in wanted.items():
            keep.update(self.positions.get(name, [])[-count:])
        kept = sorted(keep)
        signatures = [pos for pos in kept if bytes(self.headers[pos][0]).lower() == b"dkim-signature"]
        return [self.headers[pos] for pos in kept], signatures.index(own)


def _verify_one(checker: dkimpy.DKIM, fields: _FieldIndex, entry: dict[str, Any], fetch: KeyFetch,
                deadline: Deadline | None) -> None:
    request = _KeyRequest(fetch, deadline)
    all_fields = checker.headers
    checker.headers, index = fields.fields_for(entry["signed_headers"], entry["index"])
    try:
        ok = bool(checker.verify(idx=index, dnsfunc=request))
        if ok:
            result, error = "pass", None
        elif request.failure is not None:
            result, error = "temperror", f"key lookup failed: {type(request.failure).__name__}: {request.failure}"
        elif request.missing:
            result, error = "permerror", "no key published for this signature"
        else:
            result, error = "fail", "signature does not verify (the signed headers or body changed, or the key does not match)"
    except dkimpy.ValidationError as exc:
        # A body hash mismatch is a signature that does not verify (fail); the rest are malformed
        # signatures (permerror, RFC 8601 section 2.7.1).
        result, error = ("fail" if "body hash mismatch" in str(exc) else "permerror"), str(exc)
    except Exception as exc:  # the key lookup failed (temperror), or dkimpy refused the signature or key
        if request.failure is not None:
            result, error = "temperror", f"key lookup failed: {type(exc).__name__}: {exc}"
        else:
            result, error = "permerror", f"{type(exc).__name__}: {exc}"
    finally:
        checker.headers = all_fields
    entry.update(result=result, error=error[:300] if error else None, key_source=request.source)


def check_signatures(
    message: bytes | dkimpy.DKIM,
    *,
    fetch: KeyFetch,
    prefer: Callable[[str], bool] | None = None,
    limit: int = MAX_SIGNATURES,
    deadline: Deadline | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Check at most `limit` DKIM signatures of a message parsed once: (one entry per checked
    signature, the number left unchecked). An entry has `result` (pass, fail, permerror,
    temperror), the signature's d=, s=, a=, c=, h= and `key_source`. Never raises on bad input."""
    checker = message if isinstance(message, dkimpy.DKIM) else load(message)
    values = [v for k, v in checker.headers if bytes(k).lower() == b"dkim-signature"]
    chosen = [_entry(i, signature_tags(values[i])) for i in _chosen(values, prefer, limit)]
    fields: _FieldIndex | None = None
    for entry in chosen:
        if entry["domain"] is None or entry["selector"] is None:
            entry["error"] = "malformed DKIM-Signature (no d= or s= tag, or not a tag list)"
            continue
        fields = fields or _FieldIndex(checker.headers)
        _verify_one(checker, fields, entry, fetch, deadline)
    return chosen, len(values) - len(chosen)


def verify(raw: bytes, *, local_key: LocalKeyLookup | None = None, dnsfunc: DnsFunc | None = dkimpy.get_txt,
           prefer: Callable[[str], bool] | None = None, dns_seconds: float = 10.0) -> dict[str, Any]:
    """Check the DKIM signatures in `raw` (at most MAX_SIGNATURES, `prefer`red domains first).
    `local_key` answers for domains hosted here (no DNS); `dnsfunc` (dkimpy's interface; None
    disables DNS) for the rest, within `dns_seconds` in all. Never raises on bad input."""
    try:
        checker = load(raw)
    except dkimpy.MessageFormatError as exc:
        return {"present": False, "valid": False, "signatures": [], "error": f"not an RFC 5322 message: {exc}"}

    def fetch(domain: str, selector: str, timeout: float) -> tuple[bytes | None, str | None]:
        stored = local_key(domain, selector) if local_key is not None else None
        if stored:
            return txt_value(stored).encode("ascii"), "local"
        if dnsfunc is None:
            return None, None
        return dnsfunc(f"{selector}._domainkey.{domain}.".encode("ascii", "replace"), timeout=timeout), "dns"

    entries, skipped = check_signatures(checker, fetch=fetch, prefer=prefer, deadline=Deadline(dns_seconds))
    if not entries:
        return {"present": False, "valid": False, "signatures": [], "error": "no DKIM-Signature header"}
    results = [_verify_result(e, dns_enabled=dnsfunc is not None) for e in entries]
    best = next((r for r in results if r["valid"]), results[0])
    return {"present": True, **best, "signatures": results, "signatures_not_checked": skipped}


def _verify_result(entry: dict[str, Any], *, dns_enabled: bool) -> dict[str, Any]:
    error = entry["error"]
    if entry["result"] == "permerror" and entry["key_source"] is None and not dns_enabled and error and "no key" in error:
        error = "no key stored on this server and DNS lookups are disabled"
    return {
        "valid": entry["result"] == "pass",
        "result": entry["result"],
        "domain": entry["domain"],
        "selector": entry["selector"],
        "algorithm": entry["algorithm"],
        "canonicalization": entry["canonicalization"],
        "signed_headers": entry["signed_headers"],
        "key_source": entry["key_source"],
        "error": error,
    }
