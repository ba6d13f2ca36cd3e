"""The audit trail, as clients read it: filters and a cursor, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..core.access import Principal
from ..store import records
from .common import find_mailbox
from .context import Context
from .reading import check_limit, decode_cursor, encode_cursor
from .views import audit_item


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
    with ctx.store.read() as tx:
        mailbox_id = find_mailbox(tx, principal, mailbox)["id"] if mailbox else None
        rows = records.list_audit(
            tx,
            scope_addresses=sorted(principal.mailboxes) if principal.mailboxes is not None else None,
            include_global=False,
            mailbox_id=mailbox_id,
            actor=actor,
            action=action,
            message_id=message_id,
            since=since,
            until=until,
            before_seq=before,
            limit=limit + 1,
        )
    page, more = rows[:limit], len(rows) > limit
    return {"events": [audit_item(r) for r in page], "next_cursor": encode_cursor(page[-1]["seq"]) if more else None}
