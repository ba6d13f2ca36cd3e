"""claim_messages, ack_messages, release_messages: process a mailbox's inbound mail exactly once
across concurrent workers (Prefect flow runs, several agents).

`claim_messages` leases up to `limit` unprocessed inbound messages (oldest first) to the caller for
`lease_seconds`; no other claim gets them while the lease holds. The claimer then acknowledges
them (`ack_messages`: processed, never claimed again) or gives them back (`release_messages`).
A lease that runs out without an ack makes its messages claimable again (a crashed worker loses
nothing), and the late ack is refused with a 409 so the worker knows another may have them.

Tagging after reading (the seed's pattern) has a window between read and tag in which a second
worker reads the same message; a claim closes it, since choosing and leasing is one transaction.
Every claim, ack and release is audited per message, in the same transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..core.access import Principal, Scope, require_scope
from ..core.errors import BadRequest, Conflict, Forbidden, NotFound
from ..core.ids import new_id
from ..store import claims as claim_q
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from .common import find_mailbox, iso, record
from .context import Context
from .views import inbox_item

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
DEFAULT_LEASE_SECONDS = 300
MIN_LEASE_SECONDS = 5
MAX_LEASE_SECONDS = 3600
MAX_IDS = 100


def _int_in(value: Any, field: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{field} must be an integer between {low} and {high}.", code="invalid_field", details={"field": field})
    return value


def claim_view(claim_id: str | None, rows: list[dict[str, Any]], tags: dict[str, dict[str, str]], mailbox: dict[str, Any],
               expires: Any) -> dict[str, Any]:
    return {
        "claim_id": claim_id,
        "mailbox": mailbox["address"],
        "messages": [inbox_item(r, tags.get(r["id"], {})) for r in rows],
        "lease_expires_at": iso(expires) if claim_id else None,
    }


def claim_messages(
    ctx: Context,
    *,
    principal: Principal,
    mailbox: str,
    limit: int | None = None,
    lease_seconds: int | None = None,
    tag: str | None = None,
    exclude_tag: str | None = None,
    include_spam: bool = False,
) -> dict[str, Any]:
    """Lease unprocessed inbound messages of `mailbox` to this caller. With nothing to claim the
    answer has no messages and `claim_id` null (and nothing is recorded). Spam (services/spam.py)
    is never claimed unless `include_spam`."""
    require_scope(principal.scopes, Scope.READ, "claim messages")
    limit = _int_in(limit, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    lease_seconds = _int_in(lease_seconds, "lease_seconds", DEFAULT_LEASE_SECONDS, MIN_LEASE_SECONDS, MAX_LEASE_SECONDS)
    for field, value in (("tag", tag), ("exclude_tag", exclude_tag)):
        if value is not None and (not isinstance(value, str) or not value):
            raise BadRequest(f"{field} must be a non-empty tag name.", code="invalid_field", details={"field": field})
    now = ctx.now()
    expires = now + timedelta(seconds=lease_seconds)
    with ctx.store.write() as tx:
        box = find_mailbox(tx, principal, mailbox)
        ids = claim_q.claimable_ids(tx, mailbox_id=box["id"], now=now, limit=limit, tag=tag, exclude_tag=exclude_tag,
                                      include_spam=include_spam is True)
        if not ids:
            return claim_view(None, [], {}, box, None)
        claim_id = new_id("clm")
        claim_q.lease(tx, ids, claim_id=claim_id, until=expires)
        claim_q.insert_claim(tx, {"id": claim_id, "mailbox_id": box["id"], "claimed_by": principal.label,
                                  "message_ids": ids, "created_at": now, "lease_expires_at": expires})
        rows = claim_q.messages_by_ids(tx, ids)
        tags = message_q.tags_of(tx, ids)
        for row in rows:
            record(tx, at=now, principal=principal, action="message.claimed", mailbox=box, message=row,
                   details={"claim_id": claim_id, "lease_expires_at": iso(expires)})
    return claim_view(claim_id, rows, tags, box, expires)


def _own_claim(tx, principal: Principal, claim_id: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(claim_id, str) or not claim_id:
        raise BadRequest("claim_id is required.", code="missing_field", details={"field": "claim_id"})
    claim = claim_q.claim_by_id(tx, claim_id, lock=True)
    box = mailbox_q.by_id(tx, claim["mailbox_id"]) if claim else None
    if claim is None or box is None or not principal.sees_mailbox(box["address"]):
        raise NotFound(f"No claim {claim_id!r}.", code="claim_not_found", details={"claim_id": claim_id})
    if claim["claimed_by"] != principal.label:
        raise Forbidden("Only the key that made this claim may acknowledge or release it.", code="not_claim_owner",
                        details={"claim_id": claim_id})
    return claim, box


def _chosen(claim: dict[str, Any], message_ids: Any) -> list[str]:
    if message_ids is None:
        return list(claim["message_ids"])
    if not isinstance(message_ids, list) or not all(isinstance(m, str) for m in message_ids) or len(message_ids) > MAX_IDS:
        raise BadRequest(f"message_ids must be a list of at most {MAX_IDS} message ids.", code="invalid_field",
                         details={"field": "message_ids"})
    unknown = [m for m in message_ids if m not in claim["message_ids"]]
    if unknown:
        raise BadRequest("Some message_ids are not part of this claim.", code="not_in_claim",
                         details={"field": "message_ids", "message_ids": unknown})
    return list(dict.fromkeys(message_ids))


def ack_messages(ctx: Context, *, principal: Principal, claim_id: str, message_ids: list[str] | None = None) -> dict[str, Any]:
    """Mark claimed messages processed (all of the claim's, or `message_ids`). Only the claimer,
    and only while its lease holds: afterwards 409 `lease_expired` (another caller may have them).
    Acknowledging again is harmless; a message given back with release_messages is a 409."""
    now = ctx.now()
    with ctx.store.write() as tx:
        claim, box = _own_claim(tx, principal, claim_id)
        ids = _chosen(claim, message_ids)
        if now >= claim["lease_expires_at"]:
            raise Conflict(f"Claim {claim_id}'s lease ran out at {iso(claim['lease_expires_at'])}; its messages may have been claimed again.",
                           code="lease_expired", details={"claim_id": claim_id, "lease_expires_at": iso(claim["lease_expires_at"])})
        rows = {r["id"]: r for r in claim_q.messages_by_ids(tx, ids)}
        not_held = [m for m in ids if m not in rows or rows[m]["claim_id"] != claim_id]
        if not_held:
            raise Conflict("Some messages are no longer held by this claim (released).", code="not_claimed",
                           details={"claim_id": claim_id, "message_ids": not_held})
        todo = [m for m in ids if rows[m]["processed_at"] is None]
        done = claim_q.mark_processed(tx, todo, claim_id=claim_id, at=now)
        if len(done) != len(todo):  # lost a race with the lease's end: change nothing
            raise Conflict(f"Claim {claim_id}'s lease ran out.", code="lease_expired", details={"claim_id": claim_id})
        for mid in done:
            record(tx, at=now, principal=principal, action="message.acked", mailbox=box, message=rows[mid],
                   details={"claim_id": claim_id})
    return {"claim_id": claim_id, "acked": ids, "processed_at": iso(now)}


def release_messages(ctx: Context, *, principal: Principal, claim_id: str, message_ids: list[str] | None = None) -> dict[str, Any]:
    """Give claimed messages back before the lease ends, so others may claim them at once.
    Idempotent and safe after the lease ran out: only messages this claim still holds, and has
    not acknowledged, are released (`released` lists them)."""
    now = ctx.now()
    with ctx.store.write() as tx:
        claim, box = _own_claim(tx, principal, claim_id)
        ids = _chosen(claim, message_ids)
        released = claim_q.unlease(tx, ids, claim_id=claim_id)
        for row in claim_q.messages_by_ids(tx, released):
            record(tx, at=now, principal=principal, action="message.released", mailbox=box, message=row,
                   details={"claim_id": claim_id})
    return {"claim_id": claim_id, "released": [m for m in ids if m in released]}
