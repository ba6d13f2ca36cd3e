"""The Authentication-Results header (RFC 8601, authres): ours stamped on each stored message,
and any incoming one that claims to be ours removed first, so a sender cannot forge our verdict.
"""

from __future__ import annotations

import re
from typing import Any

import authres
import authres.dmarc

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
