"""DKIM (RFC 6376) for outgoing mail and for verify_message: key generation, the DNS records to
publish, signing and verifying. dkimpy does the protocol; this module only chooses the policy
(RSA-2048, relaxed/relaxed, which headers) and makes the key lookup injectable.

No web or database imports: callers pass keys in and get plain data back.
"""

from __future__ import annotations

import base64
import logging
from typing import Any, Callable

import dkim as dkimpy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

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


class _KeySource:
    """A dnsfunc for dkimpy that answers from this server's stored keys first, then DNS, and
    remembers which one it used."""

    def __init__(self, local: LocalKeyLookup | None, dnsfunc: DnsFunc | None):
        self.local = local
        self.dnsfunc = dnsfunc
        self.source: str | None = None
        self.dns_error: str | None = None

    def __call__(self, name: bytes, timeout: int = 5) -> bytes | None:
        qname = name.decode("ascii", "replace").rstrip(".")
        selector, _, domain = qname.partition("._domainkey.")
        if self.local is not None:
            stored = self.local(domain.lower(), selector)
            if stored:
                self.source = "local"
                return txt_value(stored).encode("ascii")
        if self.dnsfunc is None:
            self.source = None
            self.dns_error = "no key stored on this server and DNS lookups are disabled"
            return None
        self.source = "dns"
        try:
            return self.dnsfunc(name, timeout=timeout)
        except Exception as exc:  # resolver errors: NXDOMAIN, timeout, ...
            self.dns_error = f"{type(exc).__name__}: {exc}"
            return None


def _tags(value: bytes) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in value.decode("ascii", "replace").split(";"):
        key, sep, val = part.partition("=")
        if sep:
            tags[key.strip()] = "".join(val.split())
    return tags


def verify(raw: bytes, *, local_key: LocalKeyLookup | None = None, dnsfunc: DnsFunc | None = dkimpy.get_txt) -> dict[str, Any]:
    """Check every DKIM-Signature in `raw`. `local_key` answers for domains hosted here (no DNS);
    `dnsfunc` (dkimpy's interface; None disables DNS) for the rest. Never raises on bad input."""
    try:
        headers, _ = dkimpy.rfc822_parse(raw)
    except dkimpy.MessageFormatError as exc:
        return {"present": False, "valid": False, "signatures": [], "error": f"not an RFC 5322 message: {exc}"}
    sig_values = [v for n, v in headers if n.lower() == b"dkim-signature"]
    if not sig_values:
        return {"present": False, "valid": False, "signatures": [], "error": "no DKIM-Signature header"}
    results = []
    for idx, value in enumerate(sig_values):
        tags = _tags(value)
        source = _KeySource(local_key, dnsfunc)
        checker = dkimpy.DKIM(raw, logger=_quiet)
        error = None
        try:
            ok = bool(checker.verify(idx=idx, dnsfunc=source))
        except dkimpy.DKIMException as exc:
            ok, error = False, str(exc)
        except Exception as exc:  # dkimpy raises assorted errors on hostile input
            ok, error = False, f"{type(exc).__name__}: {exc}"
        if not ok and error is None:
            error = source.dns_error or "signature does not verify (the signed headers or body changed, or the key does not match)"
        results.append({
            "valid": ok,
            "domain": tags.get("d"),
            "selector": tags.get("s"),
            "algorithm": tags.get("a"),
            "canonicalization": tags.get("c"),
            "signed_headers": [h for h in (tags.get("h") or "").split(":") if h],
            "key_source": source.source,
            "error": error,
        })
    best = next((r for r in results if r["valid"]), results[0])
    return {"present": True, **best, "signatures": results}
