"""Sender verification for anyone, without an API key: the identity signing key (public part) and
verify_message, which checks a raw message's DKIM signature and X-MultiMail-Identity claim and
says, in words, what that proves and what it does not."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ..core.errors import BadRequest
from ..mail import dkim, identity
from ..mail.authentication import aligned, from_domain_in
from ..mail.signing import ensure_identity_key
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
    prefer = (lambda d: aligned(d, from_domain, "r")) if from_domain else None
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


# Other servers' identity keys, fetched from the claim's issuer: {issuer: (fetched at, {kid: pem})},
# bounded (oldest entries go first), failures cached too.
_ISSUER_KEYS: "OrderedDict[str, tuple[float, dict[str, str]]]" = OrderedDict()
ISSUER_KEYS_TTL_SECONDS = 3600
ISSUER_KEYS_MAX = 256


def _issuer_keys(ctx: Context, issuer: str) -> dict[str, str]:
    import json
    import time

    from ..webhooks.sender import get_checked

    cached = _ISSUER_KEYS.get(issuer)
    if cached and time.monotonic() - cached[0] < ISSUER_KEYS_TTL_SECONDS:
        return cached[1]
    keys: dict[str, str] = {}
    if issuer.startswith(("http://", "https://")) and len(issuer) < 500:
        body = get_checked(issuer.rstrip("/") + "/.well-known/multimail-signing-key",
                           allow_private=ctx.settings.webhooks_may_reach_private(), timeout=3.0)
        try:
            doc = json.loads(body) if body else {}
            for key in doc.get("keys", []):
                if isinstance(key, dict) and isinstance(key.get("kid"), str) and isinstance(key.get("pem"), str):
                    keys[key["kid"]] = key["pem"]
        except (ValueError, AttributeError):
            keys = {}
    _ISSUER_KEYS[issuer] = (time.monotonic(), keys)
    _ISSUER_KEYS.move_to_end(issuer)
    while len(_ISSUER_KEYS) > ISSUER_KEYS_MAX:
        _ISSUER_KEYS.popitem(last=False)
    return keys


def inbound_claim(ctx: Context, raw: bytes, *, sender_authenticated: bool) -> dict[str, Any] | None:
    """Verify the X-MultiMail-Identity claim of a message that arrived, if it carries one: with
    this server's own keys, else with the keys its issuer publishes (fetched through the same
    address guard as webhooks, cached for an hour). None when there is no claim.

    A key fetched from the claim's own `iss` proves only that whoever runs that URL signed it;
    it counts only when the sender's domain authenticated the message (DMARC pass), so the
    claim speaks for the domain it names."""
    try:
        headers, _ = dkim.parse(raw)
    except Exception:
        return None
    values = [v for name, v in headers if bytes(name).lower() == identity.HEADER.lower().encode()]
    if not values:
        return None
    with ctx.store.read() as tx:
        local = {r["id"]: r["public_key"] for r in domain_q.server_keys_of_kind(tx, identity.KEY_KIND)}
    issuer = None
    try:
        _, payload, _, _ = identity.decode(values[0].decode("ascii"))
        issuer = payload.get("iss") if isinstance(payload.get("iss"), str) else None
    except Exception:
        pass
    source = {"kid": None}

    def lookup(kid: str) -> str | None:
        if kid in local:
            source["kid"] = "local"
            return local[kid]
        if issuer and sender_authenticated:  # unauthenticated mail may name any issuer: fetch nothing
            pem = _issuer_keys(ctx, issuer).get(kid)
            if pem:
                source["kid"] = "issuer"
                return pem
        return None

    result = identity.verify(raw, key_lookup=lookup)
    result["key_source"] = source["kid"]
    result["sender_authenticated"] = sender_authenticated
    if not sender_authenticated and source["kid"] != "local":
        result["valid"] = False
        result["error"] = ("the sender's domain did not authenticate this message (no DMARC pass), so a claim "
                           "checked with a key named by the message itself proves nothing")
    return result
