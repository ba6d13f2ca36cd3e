"""The X-MultiMail-Identity claim: a compact JWS (RFC 7515), ES256 (ECDSA P-256, SHA-256), that this
server adds to every message it sends, before DKIM signing.

    X-MultiMail-Identity: base64url(header) "." base64url(payload) "." base64url(signature)

folded onto continuation lines (whitespace is not part of the token; verifiers remove it).

header:  {"alg": "ES256", "kid": <key id>, "typ": "multimail-identity+jws"}
payload: {
  "v": 1,
  "mailbox": "agent@acme.test",          the sending mailbox
  "oversight_mode": "gated_send",        the mode applied to this message
  "approval_status": "approved" | null,
  "approved_by": "key_…" | null,         who approved it; null when it went out without approval
  "ai_generated": true,
  "iat": 1795000000,                     issued at (Unix seconds)
  "message_id": "<msg_…@acme.test>",     the Message-ID header, verbatim (trimmed)
  "bind": {
    "alg": "sha256",
    "h": ["from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references"],
    "hh": base64url(sha256(the listed headers, DKIM relaxed-canonicalised)),
    "bh": base64url(sha256(the body, DKIM relaxed-canonicalised)),
  },
  "iss": "https://mail.example" (when the server knows its public URL)
}

What the claim binds: the Message-ID, and hashes of (a) every occurrence of the listed headers,
each canonicalised like DKIM "relaxed" (lower-case name, unfolded, runs of whitespace collapsed)
and concatenated in list order — a listed header that is absent contributes nothing, so adding
one (a Cc, a second To) changes the hash — and (b) the body as transmitted (all MIME parts and
attachments), canonicalised like DKIM "relaxed" (trailing whitespace and trailing blank lines
ignored). Copying the header onto another message, or changing its sender, recipients, subject,
date, threading or any byte of its content, makes verification fail. It does not bind other
headers (Reply-To, X-*), nor survive re-encoding of the body by a gateway (like DKIM).

Key ids are RFC 7638 JWK thumbprints (truncated to 32 characters). The JWS itself (signing input,
ES256 signatures, keys as JWKs, thumbprints) is joserfc's; this module chooses what is signed and
checks that a claim belongs to its message. No web or database imports.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from dkim import MessageFormatError, rfc822_parse
from dkim.canonicalization import Relaxed
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.util import urlsafe_b64decode, urlsafe_b64encode

HEADER = "X-MultiMail-Identity"
KEY_KIND = "identity"
ALG = "ES256"
TYP = "multimail-identity+jws"
BOUND_HEADERS = ("from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references")
FOLD_WIDTH = 76  # characters per line, well under RFC 5322's 78 recommended / 998 maximum

# kid -> public key PEM, or None when the kid is unknown.
KeyLookup = Callable[[str], "str | None"]


# Only ES256 is ever accepted (no algorithm confusion); header parameters joserfc does not know
# are allowed, as RFC 7515 section 4 says they must be ignored rather than refused.
_JWS = jws.JWSRegistry(algorithms=[ALG], strict_check_header=False)


class ClaimError(ValueError):
    """A claim that cannot be made (the message lacks one Message-ID) or read (not a compact JWS)."""


def _b64u(data: bytes) -> str:
    return urlsafe_b64encode(data).decode("ascii")


def _unb64u(text: str) -> bytes:
    """A base64url segment (RFC 7515: no padding, canonical) decoded; ClaimError otherwise."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ClaimError("not base64url")
    try:
        return urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, ValueError) as exc:
        raise ClaimError("not base64url") from exc


# ---------------------------------------------------------------------------- keys

def generate_key() -> tuple[str, str, str]:
    """A new P-256 key: (kid, private key PEM, public key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return key_id(public_pem), private_pem, public_pem


@functools.lru_cache(maxsize=64)
def _ec_key(pem: str) -> ECKey:
    """A P-256 key (public or private PEM) as joserfc's JWK; ValueError for any other key.
    Cached: the server signs every outgoing message with the same key, and loading the PEM was
    a fifth of a claim's cost (a key object is not changed by signing or verifying with it)."""
    try:
        key = ECKey.import_key(pem)
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError("identity keys are P-256") from exc
    if key.curve_name != "P-256":
        raise ValueError("identity keys are P-256")
    return key


def public_jwk(public_pem: str, kid: str | None = None) -> dict[str, str]:
    """The public key as a JWK (RFC 7517), with `kid` (the RFC 7638 thumbprint, truncated, unless
    given), `alg` and `use`."""
    key = _ec_key(public_pem)
    jwk: dict[str, Any] = dict(key.as_dict(private=False))
    return {"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"], "kid": kid or key.thumbprint()[:32],
            "alg": ALG, "use": "sig"}


def key_id(public_pem: str) -> str:
    return public_jwk(public_pem)["kid"]


# ---------------------------------------------------------------------------- binding

def _parse(raw: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    try:
        headers, body = rfc822_parse(raw)
    except MessageFormatError as exc:
        raise ClaimError(f"not an RFC 5322 message: {exc}") from exc
    return [(bytes(n), bytes(v)) for n, v in headers], body


def _header_values(headers: list[tuple[bytes, bytes]], name: str) -> list[bytes]:
    return [v for n, v in headers if n.decode("ascii", "replace").lower() == name]


def binding(raw: bytes) -> dict[str, Any]:
    """What a claim for `raw` binds (see the module docstring)."""
    return _binding_of(*_parse(raw))


def _binding_of(headers: list[tuple[bytes, bytes]], body: bytes) -> dict[str, Any]:
    selected = [(n, v) for name in BOUND_HEADERS for n, v in headers if n.decode("ascii", "replace").lower() == name]
    canon = b"".join(n + b":" + v for n, v in Relaxed.canonicalize_headers(selected))
    message_ids = _header_values(headers, "message-id")
    message_id = b" ".join(message_ids[0].split()).decode("utf-8", "replace") if len(message_ids) == 1 else None
    return {
        "message_id": message_id,
        "bind": {
            "alg": "sha256",
            "h": list(BOUND_HEADERS),
            "hh": _b64u(hashlib.sha256(canon).digest()),
            "bh": _b64u(hashlib.sha256(Relaxed.canonicalize_body(body)).digest()),
        },
    }


# ---------------------------------------------------------------------------- sign

def make_claim(
    raw: bytes,
    *,
    mailbox: str,
    oversight_mode: str | None,
    approval_status: str | None,
    approved_by: str | None,
    issued_at: datetime,
    private_key_pem: str,
    kid: str,
    issuer: str | None = None,
) -> str:
    """The compact JWS for `raw` (unfolded)."""
    bound = binding(raw)
    if bound["message_id"] is None:
        raise ClaimError("the message needs exactly one Message-ID header")
    payload: dict[str, Any] = {
        "v": 1,
        "mailbox": mailbox,
        "oversight_mode": oversight_mode,
        "approval_status": approval_status,
        "approved_by": approved_by,
        "ai_generated": True,
        "iat": int(issued_at.timestamp()),
        "message_id": bound["message_id"],
        "bind": bound["bind"],
    }
    if issuer:
        payload["iss"] = issuer
    header = {"alg": ALG, "kid": kid, "typ": TYP}
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return jws.serialize_compact(header, body, _ec_key(private_key_pem), registry=_JWS)


def fold(token: str, *, name: str = HEADER, width: int = FOLD_WIDTH) -> str:
    """The header value folded: the first line shares its room with the header name."""
    first = max(width - len(name) - 2, 16)
    lines = [token[:first]]
    rest = token[first:]
    while rest:
        lines.append(rest[: width - 1])
        rest = rest[width - 1 :]
    return lines[0] + "".join("\r\n " + line for line in lines[1:])


def add_header(raw: bytes, token: str) -> bytes:
    """`raw` with the claim header appended to its header block (any existing one removed first,
    so a claim is never stacked on a forged one)."""
    linesep = b"\r\n" if b"\r\n" in raw else b"\n"
    raw = strip_header(raw)
    end = raw.find(linesep + linesep)
    value = fold(token).replace("\r\n", linesep.decode())
    line = f"{HEADER}: {value}".encode("ascii") + linesep
    if end < 0:  # no body
        return raw + (b"" if raw.endswith(linesep) else linesep) + line
    return raw[: end + len(linesep)] + line + raw[end + len(linesep) :]


def strip_header(raw: bytes) -> bytes:
    """`raw` without any X-MultiMail-Identity header (in the header block only)."""
    linesep = b"\r\n" if b"\r\n" in raw else b"\n"
    end = raw.find(linesep + linesep)
    head, tail = (raw, b"") if end < 0 else (raw[: end + len(linesep)], raw[end + len(linesep) :])
    out, skipping = [], False
    for line in head.split(linesep):
        if skipping and line[:1] in (b" ", b"\t"):
            continue
        skipping = line.lower().startswith(HEADER.lower().encode() + b":")
        if not skipping:
            out.append(line)
    return linesep.join(out) + tail


# ---------------------------------------------------------------------------- verify

def decode(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(header, payload, the token without folding whitespace) of a compact JWS, read before any
    key is known (the checks that need none come first); ClaimError, saying what is wrong, if
    malformed. The signature is joserfc's to check (`_check_signature`)."""
    token = "".join(token.split())
    parts = token.split(".")
    if len(parts) != 3:
        raise ClaimError("not a compact JWS (three base64url parts separated by dots)")
    try:
        header = json.loads(_unb64u(parts[0]))
        payload = json.loads(_unb64u(parts[1]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ClaimError("header or payload is not JSON") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ClaimError("header or payload is not a JSON object")
    _unb64u(parts[2])
    return header, payload, token


def _check_signature(public_pem: str, token: str) -> bool:
    """Whether the compact JWS `token` is an ES256 signature by the key `public_pem` (joserfc)."""
    try:
        jws.deserialize_compact(token, _ec_key(public_pem), registry=_JWS)
    except (JoseError, ValueError, TypeError):
        return False
    return True


def _from_address(headers: list[tuple[bytes, bytes]]) -> str | None:
    from email.headerregistry import HeaderRegistry

    values = _header_values(headers, "from")
    if len(values) != 1:
        return None
    try:
        parsed = HeaderRegistry()("from", " ".join(values[0].decode("utf-8", "replace").split()))
        addrs = parsed.addresses  # type: ignore[attr-defined]  # an address header
    except Exception:
        return None
    return addrs[0].addr_spec.lower() if len(addrs) == 1 else None


# (JWS header, payload) of a claim that already matches its message -> None to go on to the key
# lookup, or why not (the claim is then reported invalid with that error).
Admit = Callable[[dict[str, Any], dict[str, Any]], "str | None"]


def _binding_checks(headers: list[tuple[bytes, bytes]], body: bytes, payload: dict[str, Any]) -> dict[str, bool]:
    """Whether the claim belongs to this message as it is now (no key needed)."""
    bound = _binding_of(headers, body)
    bind = payload.get("bind")
    claimed: dict[str, Any] = bind if isinstance(bind, dict) else {}
    from_addr = _from_address(headers)
    return {
        "message_id": bound["message_id"] is not None and bound["message_id"] == payload.get("message_id"),
        "headers": claimed.get("h") == list(BOUND_HEADERS) and claimed.get("hh") == bound["bind"]["hh"],
        "body": claimed.get("bh") == bound["bind"]["bh"],
        "from_is_mailbox": from_addr is not None and isinstance(payload.get("mailbox"), str)
        and from_addr == payload["mailbox"].lower(),
    }


def _mismatch(checks: dict[str, bool]) -> str | None:
    failed = [name for name, ok in checks.items() if not ok]
    return ("the claim does not belong to this message as it is now: " + ", ".join(failed) + " differ") if failed else None


def verify(raw: bytes, *, key_lookup: KeyLookup, admit: Admit | None = None) -> dict[str, Any]:
    """Check the claim in `raw`. Never raises on bad input; `valid` is true only when the signature
    verifies with a known key and the message matches everything the claim binds.

    With `admit` (for keys that cost a fetch), the checks that need no key come first: the claim
    must parse, be ES256 and belong to this message, and `admit` must accept it, before
    `key_lookup` is asked at all."""
    result: dict[str, Any] = {
        "present": False, "valid": False, "kid": None, "key_known": None, "mailbox": None, "oversight_mode": None,
        "approval_status": None, "approved_by": None, "ai_generated": None, "issued_at": None, "message_id": None,
        "issuer": None, "checks": {}, "error": None,
    }
    try:
        headers, body = _parse(raw)
    except ClaimError as exc:
        result["error"] = str(exc)
        return result
    values = _header_values(headers, HEADER.lower())
    if not values:
        result["error"] = f"no {HEADER} header"
        return result
    result["present"] = True
    if len(values) > 1:
        result["error"] = f"more than one {HEADER} header"
        return result
    try:
        header, payload, token = decode(values[0].decode("ascii"))
    except (ClaimError, UnicodeDecodeError) as exc:
        result["error"] = f"malformed claim: {exc}"
        return result
    kid = header.get("kid")
    result["kid"] = kid if isinstance(kid, str) else None
    if header.get("alg") != ALG:
        result["error"] = f"unsupported alg {header.get('alg')!r} (expected {ALG})"
        return result
    iat = payload.get("iat")
    result.update({
        "mailbox": payload.get("mailbox"),
        "oversight_mode": payload.get("oversight_mode"),
        "approval_status": payload.get("approval_status"),
        "approved_by": payload.get("approved_by"),
        "ai_generated": payload.get("ai_generated"),
        "issued_at": datetime.fromtimestamp(iat, UTC).isoformat().replace("+00:00", "Z")
        if isinstance(iat, int) and 0 <= iat < 2**33 else None,
        "message_id": payload.get("message_id"),
        "issuer": payload.get("iss"),
    })
    bound_checks = _binding_checks(headers, body, payload)
    if admit is not None:
        problem = _mismatch(bound_checks) or (admit(header, payload) if result["kid"] else "the claim names no key id")
        if problem:
            result["checks"] = bound_checks
            result["error"] = problem
            return result
    public_pem = key_lookup(result["kid"]) if result["kid"] else None
    result["key_known"] = public_pem is not None
    if public_pem is None:
        result["error"] = f"unknown key id {result['kid']!r}: not a key this server published"
        return result
    checks = result["checks"]
    checks["signature"] = _check_signature(public_pem, token)
    if not checks["signature"]:
        result["error"] = "the claim's signature does not verify (the claim was altered or forged)"
        return result
    checks.update(bound_checks)
    problem = _mismatch(checks)
    if problem:
        result["error"] = problem
        return result
    result["valid"] = True
    return result
