"""The audit trail, as clients read it: filters and a cursor, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..core.access import Principal, Scope
from ..core.addresses import parse_address
from ..core.errors import NotFound
from ..store import records
from .common import find_mailbox
from .context import Context
from .reading import as_utc, check_limit, decode_cursor, encode_cursor
from .views import audit_item


def _mailbox_filter(tx, principal: Principal, ref: str) -> dict[str, Any]:
    """The filter for `mailbox=`: a live mailbox by id, or any mailbox that ever had the address.
    Deletion keeps the audit trail, so a deleted mailbox's history stays reachable by its address
    (and the trail of an address spans a mailbox deleted and created again). An address that never
    had a mailbox in the key's scope is a 404, like every unknown id."""
    try:
        box = find_mailbox(tx, principal, ref)
    except NotFound:
        if ref.startswith("mbx_"):
            raise
        address = parse_address(ref, "mailbox").normalized
        if not principal.sees_mailbox(address):
            raise
        if not records.list_audit(tx, scope_addresses=[address], include_global=False, mailbox_id=None, actor=None, action=None,
                                  message_id=None, since=None, until=None, before_seq=None, limit=1):
            raise
        return {"scope_addresses": [address]}
    if ref.startswith("mbx_"):
        return {"mailbox_id": box["id"]}
    return {"scope_addresses": [box["address"]]}


def audit_log(
    ctx: Context,
    *,
    principal: Principal,
    mailbox: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    message_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    limit = check_limit(limit)
    before = decode_cursor(cursor)
    since, until = as_utc(since), as_utc(until)
    # Events of no mailbox (API keys, server-wide webhooks) are for admins only.
    admin = principal.has(Scope.ADMIN)
    with ctx.store.read() as tx:
        filters: dict[str, Any] = {
            "scope_addresses": sorted(principal.mailboxes) if principal.mailboxes is not None else None,
            "mailbox_id": None,
        }
        if mailbox:
            chosen = _mailbox_filter(tx, principal, mailbox)
            filters.update(chosen)
        rows: list[dict[str, Any]] = []
        while True:
            batch = records.list_audit(
                tx, include_global=False, actor=actor, action=action, message_id=message_id, since=since, until=until,
                before_seq=before, limit=limit + 1, **filters,
            )
            rows += [r for r in batch if admin or r["mailbox_id"] is not None]
            if len(rows) > limit or len(batch) <= limit:
                break
            before = batch[-1]["seq"]
    page, more = rows[:limit], len(rows) > limit
    return {"events": [audit_item(r) for r in page], "next_cursor": encode_cursor(page[-1]["seq"]) if more else None}
