"""Sender verification for anyone, without an API key: the identity signing key (public part) and
verify_message, which checks a raw message's DKIM signature and X-MultiMail-Identity claim and
says, in words, what that proves and what it does not."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cachetools import TTLCache

from ..core.errors import BadRequest
from ..delivery.signing import ensure_identity_key
from ..mail import dkim, identity
from ..mail.dmarc import aligned_with, organizational_domain
from ..mail.domains import from_domain_in, normalize_domain
from ..store import domains as domain_q
from .context import Context

_DEFAULT_DNS = object()


def public_keys(ctx: Context) -> dict[str, Any]:
    """The identity keys as a JWK set (RFC 7517), newest use first; the key is created if this
    server has never signed anything yet, so the document is never empty."""
    with ctx.store.read() as tx:
        rows = domain_q.server_keys_of_kind(tx, identity.KEY_KIND)
    if not rows:
        with ctx.store.write() as tx:
            ensure_identity_key(tx, ctx.now())
            rows = domain_q.server_keys_of_kind(tx, identity.KEY_KIND)
    keys = []
    for row in rows:
        keys.append({**identity.public_jwk(row["public_key"], row["id"]), "pem": row["public_key"],
                     "created_at": row["created_at"].isoformat().replace("+00:00", "Z")})
    return {"keys": keys, "kid": rows[0]["id"], "header": identity.HEADER, "alg": identity.ALG}


def verify_message(ctx: Context, *, raw: bytes, dnsfunc: Any = _DEFAULT_DNS) -> dict[str, Any]:
    """Check DKIM and the identity claim of `raw`. Keys of domains hosted here are taken from the
    database, others from DNS through `dnsfunc` (dkimpy's interface; None: no DNS at all)."""
    if not isinstance(raw, (bytes, bytearray)) or not raw.strip():
        raise BadRequest("Send the raw RFC 5322 message as the request body.", code="empty_message")
    raw = bytes(raw)
    try:
        headers, _ = dkim.parse(raw)
    except dkim.MessageFormatError as exc:
        raise BadRequest(f"The body is not an RFC 5322 message: {exc}"[:300], code="invalid_message") from None
    if not any(bytes(name).lower() == b"from" for name, _ in headers):
        raise BadRequest("The body is not an RFC 5322 message: it has no From header field.", code="invalid_message")

    with ctx.store.read() as tx:
        stored_domains = {r["domain"]: r for r in domain_q.list_domains(tx)}
        identity_keys = {r["id"]: r["public_key"] for r in domain_q.server_keys_of_kind(tx, identity.KEY_KIND)}

    def local_key(domain: str, selector: str) -> str | None:
        row = stored_domains.get(domain)
        return row["dkim_public_key"] if row and row["dkim_selector"] == selector else None

    dns = dkim.dns_txt if dnsfunc is _DEFAULT_DNS else dnsfunc
    from_domain, _ = from_domain_in(headers)
    prefer = aligned_with(from_domain) if from_domain else None
    dkim_result = dkim.verify(raw, local_key=local_key, dnsfunc=dns, prefer=prefer)
    claim = identity.verify(raw, key_lookup=identity_keys.get)
    proves, not_proven = explain(dkim_result, claim)
    return {"dkim": dkim_result, "identity": claim, "proves": proves, "does_not_prove": not_proven}


def explain(dkim_result: dict[str, Any], claim: dict[str, Any]) -> tuple[list[str], list[str]]:
    proves: list[str] = []
    not_proven: list[str] = []
    if dkim_result["valid"]:
        where = ("this server's stored key for the domain (no DNS lookup)" if dkim_result["key_source"] == "local"
                 else "the key published in DNS")
        proves.append(f"DKIM: the domain {dkim_result['domain']} signed this message (verified with {where}), and the "
                      f"signed headers ({', '.join(dkim_result['signed_headers'])}) and the body have not changed since.")
        if dkim_result["key_source"] == "local":
            not_proven.append("That the DKIM key published in DNS for the domain is the one this server stores: it was "
                              "checked against the stored key, not DNS.")
    else:
        not_proven.append("That the message comes from the domain in its From header: "
                          + ("it has no DKIM signature." if not dkim_result["present"] else "its DKIM signature does not verify."))
    if claim["valid"]:
        approval = (f"approved by {claim['approved_by']}" if claim["approved_by"]
                    else "sent without a human approval")
        proves.append(f"Identity: this MultiMail server sent it from the mailbox {claim['mailbox']} under oversight mode "
                      f"{claim['oversight_mode']}, {approval}, marked AI-generated, at {claim['issued_at']}.")
        proves.append("The identity claim belongs to this message: its Message-ID, From, To, Cc, Subject, Date, "
                      "In-Reply-To and References headers and its body are the ones the claim was signed over.")
        not_proven.append("Who the person or agent behind the mailbox or the approving key is, beyond this server's records.")
        if not claim["approved_by"]:
            not_proven.append("That any human reviewed the message before it was sent.")
    else:
        reason = claim["error"] or "it is not valid"
        not_proven.append(f"Which mailbox sent it, under which oversight, or whether a human approved it: the identity claim "
                          f"cannot be trusted ({reason}).")
    not_proven.append("That what the message says is true, or that it reached or was read by its recipients.")
    not_proven.append("Anything about headers outside the signed ones (e.g. Reply-To, Received).")
    return proves, not_proven


# ---------------------------------------------------------------------------------------------
# Claims from other servers: the key is fetched from the sender's domain, and only once the claim
# has passed every check that needs no key.

WELL_KNOWN_PATH = "/.well-known/multimail-signing-key"
ISSUER_KEYS_TTL_SECONDS = 3600  # a fetched key set is used this long
ISSUER_FAILURE_TTL_SECONDS = 300  # an issuer that did not answer with keys is not asked again for this long
ISSUER_FETCH_TIMEOUT_SECONDS = 3.0
CLAIM_MAX_AGE_SECONDS = 7 * 24 * 3600  # older claims are stale (mail is retried for days at most)
CLAIM_MAX_SKEW_SECONDS = 600  # a claim issued further in the future is not honoured

_issuer_keys_cache: TTLCache = TTLCache(maxsize=256, ttl=ISSUER_KEYS_TTL_SECONDS)
_issuer_failures: TTLCache = TTLCache(maxsize=4096, ttl=ISSUER_FAILURE_TTL_SECONDS)
_issuer_locks: TTLCache = TTLCache(maxsize=4096, ttl=ISSUER_FAILURE_TTL_SECONDS)
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class IssuerKeys:
    """Where the keys for a claim are fetched, and whether that place may be on a private address
    (only for a test issuer the operator configured)."""

    url: str
    allow_private: bool = False


def issuer_for(iss: Any, mailbox: Any, test_issuers: dict[str, str] | None = None) -> tuple[IssuerKeys | None, str | None]:
    """(where to fetch the claim's keys, None) or (None, why the claim's issuer is not acceptable).

    The issuer must be the origin `https://<host>` (no port, path, query, fragment or user info)
    of a host in the mailbox domain's organisation (Public Suffix List), and the keys are fetched
    from its fixed well-known path: a claim cannot point the server anywhere else.
    `test_issuers` (setting `identity_test_issuers`, for tests only) maps a mail domain to the
    one origin, e.g. `http://127.0.0.1:8025`, accepted for it instead (private addresses allowed)."""
    if not isinstance(iss, str) or not iss or len(iss) > 300:
        return None, "the claim names no issuer, so its key cannot be looked up"
    if not isinstance(mailbox, str) or "@" not in mailbox:
        return None, "the claim names no mailbox"
    domain = normalize_domain(mailbox.rpartition("@")[2])
    overrides = {normalize_domain(k): v.rstrip("/") for k, v in (test_issuers or {}).items()}
    if domain in overrides:
        if iss.rstrip("/") != overrides[domain]:
            return None, f"the claim's issuer {iss!r} is not the one configured for {domain}"
        return IssuerKeys(overrides[domain] + WELL_KNOWN_PATH, allow_private=True), None
    try:
        parts = urlsplit(iss)
        port = parts.port
    except ValueError:
        return None, "the claim's issuer is not a URL"
    if (parts.scheme != "https" or not parts.hostname or parts.username is not None or parts.password is not None
            or port not in (None, 443) or parts.path not in ("", "/") or parts.query or parts.fragment
            or any(c in iss for c in "#?@\\ ")):
        return None, "the claim's issuer must be an https origin (https://host, nothing after it)"
    host = normalize_domain(parts.hostname)
    if organizational_domain(host) != organizational_domain(domain):
        return None, f"the claim's issuer {host} is not in the sender's domain {domain}"
    return IssuerKeys(f"https://{host}{WELL_KNOWN_PATH}"), None


def claim_age_problem(payload: dict[str, Any], now: datetime) -> str | None:
    """Why a claim is too old or from the future to honour with a fetched key, or None."""
    iat = payload.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        return "the claim has no issue time"
    age = now.timestamp() - iat
    if age > CLAIM_MAX_AGE_SECONDS:
        return "the claim has expired (issued more than 7 days ago)"
    if age < -CLAIM_MAX_SKEW_SECONDS:
        return "the claim is issued in the future"
    return None


def _parse_key_set(body: bytes | None) -> dict[str, str]:
    try:
        doc = json.loads(body) if body else {}
        return {k["kid"]: k["pem"] for k in doc.get("keys", [])
                if isinstance(k, dict) and isinstance(k.get("kid"), str) and isinstance(k.get("pem"), str)}
    except (ValueError, AttributeError, TypeError):
        return {}


def _issuer_lock(url: str) -> threading.Lock:
    with _cache_lock:
        lock = _issuer_locks.get(url)
        if lock is None:
            lock = _issuer_locks[url] = threading.Lock()
        return lock


def _issuer_keys(issuer: IssuerKeys) -> dict[str, str]:
    """The issuer's published keys ({kid: pem}), fetched at most once per TTL: through the webhook
    address guard (never a private address unless a test issuer), failures cached as well, and
    one fetch at a time per issuer so a burst of messages is one request."""
    from ..webhooks.sender import get_checked

    with _issuer_lock(issuer.url):
        with _cache_lock:
            if issuer.url in _issuer_keys_cache:
                return _issuer_keys_cache[issuer.url]
            if issuer.url in _issuer_failures:
                return {}
        keys = _parse_key_set(get_checked(issuer.url, allow_private=issuer.allow_private,
                                          timeout=ISSUER_FETCH_TIMEOUT_SECONDS))
        with _cache_lock:
            if keys:
                _issuer_keys_cache[issuer.url] = keys
            else:
                _issuer_failures[issuer.url] = True
        return keys


def inbound_claim(ctx: Context, raw: bytes, *, sender_authenticated: bool) -> dict[str, Any] | None:
    """Verify the X-MultiMail-Identity claim of a message that arrived, if it carries one: with
    this server's own keys, else with the keys the sender's domain publishes. None when there
    is no claim.

    A key fetched from elsewhere counts only when the sender's domain authenticated the message
    (DMARC pass), so the claim speaks for the domain it names; and nothing is fetched before the
    claim passed every check that needs no key (it parses, is ES256, belongs to this very message,
    its mailbox is the From address, it is not stale, its issuer is the From domain's https
    origin): a message cannot make this server send requests where it likes."""
    try:
        headers, _ = dkim.parse(raw)
    except Exception:
        return None
    if not any(bytes(name).lower() == identity.HEADER.lower().encode() for name, _ in headers):
        return None
    with ctx.store.read() as tx:
        local = {r["id"]: r["public_key"] for r in domain_q.server_keys_of_kind(tx, identity.KEY_KIND)}
    test_issuers = getattr(ctx.settings, "identity_test_issuers", None) or {}
    state: dict[str, Any] = {"source": None, "issuer": None}

    def admit(header: dict[str, Any], payload: dict[str, Any]) -> str | None:
        if header.get("kid") in local:
            return None
        if not sender_authenticated:
            return ("the sender's domain did not authenticate this message (no DMARC pass), so a claim "
                    "checked with a key named by the message itself proves nothing")
        problem = claim_age_problem(payload, ctx.now())
        if problem:
            return problem
        state["issuer"], problem = issuer_for(payload.get("iss"), payload.get("mailbox"), test_issuers)
        return problem

    def lookup(kid: str) -> str | None:
        if kid in local:
            state["source"] = "local"
            return local[kid]
        pem = _issuer_keys(state["issuer"]).get(kid) if state["issuer"] is not None else None
        if pem:
            state["source"] = "issuer"
        return pem

    result = identity.verify(raw, key_lookup=lookup, admit=admit)
    result["key_source"] = state["source"]
    result["sender_authenticated"] = sender_authenticated
    if not sender_authenticated and state["source"] != "local":
        result["valid"] = False
        result["error"] = result["error"] or ("the sender's domain did not authenticate this message (no DMARC "
                                              "pass), so a claim checked with a key named by the message itself proves nothing")
    return result
