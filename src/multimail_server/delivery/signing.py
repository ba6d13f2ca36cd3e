"""The last step before a message leaves: sender-verification headers added to the composed
bytes. First the X-MultiMail-Identity claim (signed with the server's identity key, created on
first use), then — when the From domain has a key (`multimail domains add`) — a DKIM signature
that also covers the claim header. Mail from a domain without a key goes out without DKIM."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from ..core.addresses import parse_address
from ..core.errors import BadRequest
from ..mail import dkim, identity
from ..store import domains as domain_q

log = logging.getLogger("multimail.signing")


def ensure_identity_key(tx: Connection, now: datetime | None = None) -> dict[str, Any]:
    """The server's identity signing key (kid, PEMs), created and stored on first use."""
    keys = domain_q.server_keys_of_kind(tx, identity.KEY_KIND)
    if keys:
        return keys[0]
    kid, private_pem, public_pem = identity.generate_key()
    row = {"id": kid, "kind": identity.KEY_KIND, "private_key": private_pem, "public_key": public_pem,
           "created_at": now or datetime.now(UTC)}
    domain_q.insert_server_key(tx, row)
    return row


def _sender_domain(message: dict[str, Any], mailbox: dict[str, Any]) -> str:
    try:
        spec = parse_address(message.get("from_addr") or mailbox["address"], "from").addr_spec
    except BadRequest:
        spec = mailbox["address"]
    domain = spec.rpartition("@")[2].rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def finalize_outbound(
    tx: Connection,
    *,
    raw: bytes,
    message: dict[str, Any],
    mailbox: dict[str, Any],
    now: datetime | None = None,
    issuer: str | None = None,
    keys: dict[Any, Any] | None = None,
) -> bytes:
    """Return the bytes to hand over for `message` from `mailbox`: with the identity claim, and
    DKIM-signed when the sender's domain has a key. `issuer` (the server's public base URL), when
    given, is written into the claim so remote verifiers know where to fetch the key. `keys`: a
    cache for the keys read in this transaction (the delivery worker signs a batch in one; two
    key queries a message were a measurable part of its work)."""
    now = now or datetime.now(UTC)
    keys = {} if keys is None else keys
    try:
        if "identity" not in keys:
            keys["identity"] = ensure_identity_key(tx, now)
        key = keys["identity"]
        approved = message.get("approval_status") == "approved"
        token = identity.make_claim(
            raw,
            mailbox=mailbox["address"],
            oversight_mode=message.get("oversight_mode"),
            approval_status=message.get("approval_status"),
            approved_by=message.get("decided_by") if approved else None,
            issued_at=now,
            private_key_pem=key["private_key"],
            kid=key["id"],
            issuer=issuer,
        )
        raw = identity.add_header(raw, token)
    except identity.ClaimError:
        log.exception("message %s: no identity claim added", message.get("id"))
    domain = _sender_domain(message, mailbox)
    if ("domain", domain) not in keys:
        keys[("domain", domain)] = domain_q.by_domain(tx, domain)
    row = keys[("domain", domain)]
    if row is None:
        return raw
    try:
        return dkim.sign(raw, domain=domain, selector=row["dkim_selector"], private_key_pem=row["dkim_private_key"])
    except Exception:  # a broken stored key must not stop mail; it goes out unsigned and is logged
        log.exception("message %s: DKIM signing for %s failed; sent unsigned", message.get("id"), domain)
        return raw
