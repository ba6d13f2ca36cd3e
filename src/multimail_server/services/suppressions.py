"""The per-mailbox suppression list: addresses a mailbox no longer sends to.

An address gets there by a hard bounce or a complaint (services/bounces.py) or by hand
(`add_suppression`). A send, reply or question to a suppressed address is refused with 409
`suppressed`, naming the address, when and why, before anything is stored (services/sending.py).
Mail accepted before its address was suppressed (a bounce or complaint about an earlier message
can arrive while it waits) is stopped too: approving it is refused with the same 409
(services/approvals.approve_held), and a scheduled message that falls due fails instead of
leaving (services/scheduling.fall_due).

Matching must not be bypassable by spelling one person's address another way, so every address is
reduced to one key: the local part NFKC-normalised and case-folded (mail systems treat local
parts case-insensitively in practice; over-matching is the safe direction here) and the domain in
its IDNA A-label form (mail/domains.py: `Bob@BÜCHER.test` and `bob@xn--bcher-kva.test` are one
key). A send to `bob+news@x` is also refused when `bob@x` is suppressed: the tag reaches the same
person; the reverse does not hold (suppressing one tagged address leaves the others).

Anyone who may use the mailbox may list and add entries; only an approver or an admin may remove
one (the `oversight` scope): an agent must not un-suppress its way back to someone who complained.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..core.access import Principal, Scope, require_scope
from ..core.addresses import parse_address
from ..core.errors import BadRequest, Conflict, NotFound
from ..mail.domains import normalize_domain
from ..store import suppressions as suppression_q
from .common import find_mailbox, iso, record, scoped_mailbox_ids, seq_cursor, seq_page_limit
from .context import Context

REASONS = ("hard_bounce", "complaint", "manual")
MAX_DETAIL = 1000


def suppression_key(address: str, field: str = "address") -> str:
    """The one form an address is suppressed and matched in (400 `invalid_address` if it is not one)."""
    spec = parse_address(address, field).addr_spec
    local, _, domain = spec.rpartition("@")
    return f"{unicodedata.normalize('NFKC', local).casefold()}@{normalize_domain(domain)}"


def _keys_of(key: str) -> list[str]:
    """The entries that would refuse `key`: itself and, for `local+tag@d`, `local@d`."""
    local, _, domain = key.rpartition("@")
    base = local.partition("+")[0]
    return [key] if not base or base == local else [key, f"{base}@{domain}"]


def view(row: dict[str, Any], mailbox_address: str) -> dict[str, Any]:
    return {"address": row["address"], "mailbox": mailbox_address, "mailbox_id": row["mailbox_id"], "reason": row["reason"], "detail": row["detail"],
            "message_id": row["message_id"], "created_by": row["created_by"], "created_at": iso(row["created_at"])}


def suppressed_entries(tx: Connection, mailbox: dict[str, Any], addresses: list[str]) -> list[dict[str, Any]]:
    """The mailbox's entries that refuse any of `addresses`, each with `requested`: the form the
    caller gave (400 `invalid_address` for one that is not an address)."""
    wanted: dict[str, str] = {}
    for address in addresses:
        key = suppression_key(address, "to")
        for candidate in _keys_of(key):
            wanted.setdefault(candidate, address)
    found = suppression_q.find(tx, mailbox["id"], list(wanted)) if wanted else []
    return [{**view(row, mailbox["address"]), "requested": wanted[row["address"]]} for row in found]


def why_suppressed(entry: dict[str, Any]) -> str:
    """`entry` (from suppressed_entries) in words: who, since when, why."""
    why = {"hard_bounce": "it bounced permanently", "complaint": "its owner reported our mail as spam",
           "manual": "it was added by hand"}.get(entry["reason"], entry["reason"])
    return (f"{entry['requested']} is on the suppression list of {entry['mailbox']} since {entry['created_at']}: {why}"
            + (f" ({entry['detail']})" if entry["detail"] else ""))


def suppressed_details(entries: list[dict[str, Any]]) -> dict[str, Any]:
    first = entries[0]
    return {"address": first["requested"], "suppressed_address": first["address"], "reason": first["reason"],
            "detail": first["detail"], "suppressed_at": first["created_at"], "suppressions": entries}


def refuse_suppressed(tx: Connection, mailbox: dict[str, Any], addresses: list[str]) -> None:
    """409 `suppressed` when any of `addresses` (as given by the caller) is on the mailbox's list."""
    entries = suppressed_entries(tx, mailbox, addresses)
    if not entries:
        return
    raise Conflict(
        why_suppressed(entries[0]) + ". Nothing was sent; an approver or admin can remove the entry (remove_suppression).",
        code="suppressed", details=suppressed_details(entries),
    )


def suppress(tx: Connection, *, mailbox: dict[str, Any], address: str, reason: str, detail: str | None,
             message_id: str | None, principal: Principal | None, now: datetime) -> bool:
    """Add an entry inside the caller's transaction (bounces and complaints call this); audited
    as `suppression.added`. False when the address was suppressed already."""
    key = suppression_key(address)
    added = suppression_q.add(tx, {"mailbox_id": mailbox["id"], "address": key, "reason": reason,
                                   "detail": (detail or None) and detail[:MAX_DETAIL], "message_id": message_id,
                                   "created_by": principal.label if principal else "system", "created_at": now})
    if added:
        record(tx, at=now, principal=principal, action="suppression.added", mailbox=mailbox,
               details={"address": key, "reason": reason, "detail": detail, "source_message_id": message_id})
    return added


def _detail(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest("detail must be a string.", code="invalid_field", details={"field": "detail"})
    if len(value) > MAX_DETAIL:
        raise BadRequest(f"detail is longer than {MAX_DETAIL} characters.", code="invalid_field", details={"field": "detail"})
    return value or None


def add_suppression(ctx: Context, *, principal: Principal, mailbox: str, address: str, detail: str | None = None) -> dict[str, Any]:
    """Suppress `address` for `mailbox` by hand (reason `manual`); adding one already there
    answers the existing entry with `added: false`."""
    key = suppression_key(address)
    note = _detail(detail)
    now = ctx.now()
    with ctx.store.write() as tx:
        box = find_mailbox(tx, principal, mailbox)
        added = suppress(tx, mailbox=box, address=key, reason="manual", detail=note, message_id=None, principal=principal, now=now)
        row = suppression_q.find(tx, box["id"], [key])[0]
    return {"added": added, "suppression": view(row, box["address"])}


def remove_suppression(ctx: Context, *, principal: Principal, mailbox: str | None, address: str) -> dict[str, Any]:
    """Remove `address` from one mailbox's list, or (mailbox None: the hosted route) from every
    mailbox the key sees. Approvers and admins only; 404 `suppression_not_found` if not listed."""
    require_scope(principal.scopes, Scope.OVERSIGHT, "remove an address from a suppression list")
    key = suppression_key(address)
    now = ctx.now()
    removed = []
    with ctx.store.write() as tx:
        if mailbox is not None:
            boxes = [find_mailbox(tx, principal, mailbox)]
        else:
            ids = scoped_mailbox_ids(tx, principal)
            boxes = [r for r in _mailboxes_with(tx, ids, key)]
        for box in boxes:
            row = suppression_q.remove(tx, box["id"], key)
            if row is not None:
                record(tx, at=now, principal=principal, action="suppression.removed", mailbox=box,
                       details={"address": key, "reason": row["reason"], "detail": row["detail"]})
                removed.append(view(row, box["address"]))
    if not removed:
        raise NotFound(f"{address} is not on the suppression list of {mailbox or 'any mailbox this key may use'}.",
                       code="suppression_not_found", details={"address": address, "mailbox": mailbox})
    return {"removed": removed}


def _mailboxes_with(tx: Connection, mailbox_ids: list[str] | None, key: str) -> list[dict[str, Any]]:
    rows = suppression_q.page(tx, mailbox_ids, after_seq=None, limit=10_000, address=key)
    return [{"id": r["mailbox_id"], "address": r["mailbox_address"]} for r in rows]


def list_suppressions(ctx: Context, *, principal: Principal, mailbox: str | None = None, address: str | None = None,
                      cursor: str | None = None, limit: int | None = None) -> dict[str, Any]:
    """One page of entries, oldest first, of one mailbox or of every mailbox the key sees;
    `address` narrows to one address (in any of its spellings)."""
    limit = seq_page_limit(limit)
    after = seq_cursor(cursor)
    key = suppression_key(address) if address else None
    with ctx.store.read() as tx:
        ids = [find_mailbox(tx, principal, mailbox)["id"]] if mailbox else scoped_mailbox_ids(tx, principal)
        rows = suppression_q.page(tx, ids, after_seq=after, limit=limit + 1, address=key)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"suppressions": [view(r, r["mailbox_address"]) for r in rows],
            "next_cursor": str(rows[-1]["seq"]) if more and rows else None}
