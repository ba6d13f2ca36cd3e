"""The kill switch: an admin pauses all outbound mail of a mailbox, or of every mailbox, at once.

While paused, nothing of that mailbox is handed over: the delivery worker does not claim its
outbox rows (store/outbox.claim_due), so queued mail waits, approved mail joins the queue, and
held mail stays held. Nothing is dropped: resuming releases the rows in their outbox order.
Pausing and resuming are audited; both are admin-only (an agent can neither stop oversight
mail nor release mail an admin stopped).

Quiet hours are the same hold, on a clock: a mailbox's daily window (in its time zone) in which
none of its mail is handed over; it goes out, in order, when the window ends. The approvers'
notices and digests are never held back by either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection

from ..core.access import Principal, Scope, require_scope
from ..core.approval_policy import check_quiet_hours, in_quiet_hours
from ..core.errors import BadRequest
from ..store import approvals as approval_q
from ..store import mailboxes as mailbox_q
from .common import find_mailbox, iso, record
from .context import Context

ALL = "*"


def _reason(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 2000:
        raise BadRequest("reason must be a string of at most 2000 characters.", code="invalid_field", details={"field": "reason"})
    return value


def _view(tx, rows: list[dict[str, Any]]) -> dict[str, Any]:
    items = []
    for row in rows:
        box = None if row["scope"] == ALL else mailbox_q.by_id(tx, row["scope"])
        items.append({"mailbox": box["address"] if box else None, "all_mailboxes": row["scope"] == ALL,
                      "paused_at": iso(row["paused_at"]), "paused_by": row["paused_by"], "reason": row["reason"]})
    return {"paused": items}


def pause_outbound(ctx: Context, *, principal: Principal, mailbox: str | None = None, reason: str | None = None) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.ADMIN, "pause outbound mail")
    reason = _reason(reason)
    now = ctx.now()
    with ctx.store.write() as tx:
        if mailbox is None and principal.mailboxes is not None:
            raise BadRequest("A key scoped to some mailboxes must name the mailbox to pause.", code="missing_field",
                             details={"field": "mailbox"})
        box = find_mailbox(tx, principal, mailbox) if mailbox is not None else None
        scope = box["id"] if box else ALL
        if approval_q.pause(tx, scope, now, principal.label, reason):
            record(tx, at=now, principal=principal, action="outbound.paused", mailbox=box,
                   details={"all_mailboxes": box is None, "reason": reason})
        return _view(tx, approval_q.pauses(tx))


def resume_outbound(ctx: Context, *, principal: Principal, mailbox: str | None = None) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.ADMIN, "resume outbound mail")
    now = ctx.now()
    with ctx.store.write() as tx:
        if mailbox is None and principal.mailboxes is not None:
            raise BadRequest("A key scoped to some mailboxes must name the mailbox to resume.", code="missing_field",
                             details={"field": "mailbox"})
        box = find_mailbox(tx, principal, mailbox) if mailbox is not None else None
        if approval_q.resume(tx, box["id"] if box else ALL):
            record(tx, at=now, principal=principal, action="outbound.resumed", mailbox=box, details={"all_mailboxes": box is None})
        return _view(tx, approval_q.pauses(tx))


def list_pauses(ctx: Context, *, principal: Principal) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.OVERSIGHT, "see paused mailboxes")
    with ctx.store.read() as tx:
        rows = approval_q.pauses(tx)
        visible = [r for r in rows if r["scope"] == ALL or principal.mailboxes is None
                   or (b := mailbox_q.by_id(tx, r["scope"])) is not None and principal.sees_mailbox(b["address"])]
        return _view(tx, visible)


def check_quiet_hours_setting(value: Any) -> dict[str, str] | None:
    """A mailbox's quiet hours as given, with a time zone the tz database knows."""
    quiet = check_quiet_hours(value)
    if quiet is not None:
        try:
            ZoneInfo(quiet["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise BadRequest(f"Unknown time zone {quiet['timezone']!r}; use an IANA name such as Europe/Berlin.",
                             code="invalid_field", details={"field": "quiet_hours.timezone"}) from None
    return quiet


def quiet_mailbox_ids(tx: Connection, now: datetime) -> list[str]:
    """The mailboxes in their quiet hours at `now` (the delivery worker skips their mail)."""
    quiet = []
    for row in approval_q.quiet_hours_of_mailboxes(tx):
        try:
            local = now.astimezone(ZoneInfo(row["quiet_hours"]["timezone"]))
        except (ZoneInfoNotFoundError, ValueError, KeyError, TypeError):
            continue
        if in_quiet_hours(row["quiet_hours"], local.hour * 60 + local.minute):
            quiet.append(row["id"])
    return quiet
