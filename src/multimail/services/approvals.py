"""The human gate: list pending mail, approve (optionally edited), reject, cancel.

Every transition is a compare-and-set on the approval status inside one transaction, so two
humans clicking at once, or an approval racing a cancellation, resolve to exactly one outcome and
the loser gets a 409. A held message reaches the outbox only through `approve_message`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..core.access import Principal, Scope, require_scope
from ..core import flow_run_waits
from ..core.errors import BadRequest, Conflict, Forbidden
from ..store import messages as message_q
from ..store import outbox as outbox_q
from ..store import mailboxes as mailbox_q
from .common import find_mailbox, find_message, record, scoped_mailbox_ids
from .context import Context
from .views import pending_item

MAX_NOTE = 2000


def list_pending(ctx: Context, *, principal: Principal, mailbox: str | None = None,
                 flow_run_id: str | None = None) -> dict[str, Any]:
    """Pending messages plus those decided in the last 24 h (API.md), oldest first; with
    `flow_run_id`, the held messages that Prefect flow run queued (its cancellation hook
    withdraws the pending ones)."""
    since = ctx.now() - timedelta(seconds=ctx.settings.decided_visible_seconds)
    if flow_run_id is not None:
        flow_run_id = flow_run_waits.flow_run_id(flow_run_id)
    with ctx.store.read() as tx:
        if mailbox is not None:
            ids = [find_mailbox(tx, principal, mailbox)["id"]]
        else:
            ids = scoped_mailbox_ids(tx, principal)
        rows = message_q.pending_and_recent(tx, mailbox_ids=ids, decided_since=since, flow_run_id=flow_run_id)
        boxes = {m["id"]: m for m in mailbox_q.list_all(tx, principal.mailboxes)}
    return {"messages": [pending_item(r, boxes[r["mailbox_id"]]) for r in rows if r["mailbox_id"] in boxes]}


def _note(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NOTE:
        raise BadRequest(f"{field} must be a string of at most {MAX_NOTE} characters.", code="invalid_field", details={"field": field})
    return value


def _not_pending(msg: dict[str, Any]) -> Conflict:
    state = msg["approval_status"] or msg["status"]
    return Conflict(
        f"Message {msg['id']} is not pending approval (it is {state}).",
        code="invalid_state",
        details={"message_id": msg["id"], "status": msg["status"], "approval_status": msg["approval_status"]},
    )


def approve_message(
    ctx: Context,
    *,
    principal: Principal,
    message_id: str,
    note: str | None = None,
    subject: str | None = None,
    body: str | None = None,
    html: str | None = None,
) -> dict[str, Any]:
    """Approve a held message, with the approver's edits if any; it then goes to the outbox."""
    require_scope(principal.scopes, Scope.OVERSIGHT, "approve messages")
    from .sending import _subject, _text  # the same field rules as at submission

    note = _note(note, "note")
    edits: dict[str, Any] = {}
    if subject is not None:
        edits["subject"] = _subject(subject, required=True)
    if body is not None:
        edits["body_text"] = _text(body, "body", required=True)
        if html is None:
            # Mail clients show the HTML part: keeping the agent's HTML beside the approver's
            # text would send what the approver meant to change. The edited text goes out alone.
            edits["body_html"] = None
    if html is not None:
        edits["body_html"] = _text(html, "html", required=False) or None
    now = ctx.now()
    with ctx.store.write() as tx:
        msg, mailbox = find_message(tx, principal, message_id, lock=True)
        if msg["approval_status"] != "pending":
            raise _not_pending(msg)
        values = {**edits, "approval_status": "approved", "status": "queued", "decided_at": now,
                  "decided_by": principal.label, "decision_note": note}
        if not message_q.update_message(tx, message_id, values, where={"approval_status": "pending"}):
            raise _not_pending(message_q.by_id(tx, message_id))
        outbox_q.enqueue(tx, message_id, now)
        msg = {**msg, **values}
        details = {"note": note}
        if edits:
            details["edited"] = sorted(edits)
        record(tx, at=now, principal=principal, action="message.approved", mailbox=mailbox, message=msg,
               details=details, event="message.approved", event_data=pending_item(msg, mailbox))
    return pending_item(msg, mailbox)


def reject_message(ctx: Context, *, principal: Principal, message_id: str, reason: str | None = None) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.OVERSIGHT, "reject messages")
    reason = _note(reason, "reason")
    now = ctx.now()
    with ctx.store.write() as tx:
        msg, mailbox = find_message(tx, principal, message_id, lock=True)
        values = {"approval_status": "rejected", "status": "rejected", "decided_at": now,
                  "decided_by": principal.label, "decision_note": reason}
        if msg["approval_status"] != "pending" or not message_q.update_message(
            tx, message_id, values, where={"approval_status": "pending"}
        ):
            raise _not_pending(msg)
        msg = {**msg, **values}
        record(tx, at=now, principal=principal, action="message.rejected", mailbox=mailbox, message=msg,
               details={"reason": reason}, event="message.rejected", event_data=pending_item(msg, mailbox))
    return pending_item(msg, mailbox)


def cancel_message(ctx: Context, *, principal: Principal, message_id: str, reason: str | None = None) -> dict[str, Any]:
    """Withdraw a message that has not gone out: held ones always, never-held queued ones before a
    worker has started on them. An approved message is not withdrawn: approval is a decision, and
    an approval racing a cancellation must leave exactly one winner (the other gets a 409), so a
    poller never sees "approved" for mail that does not go out. The agent key that queued the
    message may cancel it, as may an approver."""
    reason = _note(reason, "reason")
    now = ctx.now()
    with ctx.store.write() as tx:
        msg, mailbox = find_message(tx, principal, message_id, lock=True)
        if msg["direction"] != "outbound":
            raise Conflict("Only outbound messages can be cancelled.", code="invalid_state", details={"message_id": message_id})
        if not principal.has(Scope.OVERSIGHT) and msg["created_by"] != principal.label:
            raise Forbidden("Only the key that queued this message, or an approver, may cancel it.", code="not_message_owner")
        values = {"status": "cancelled", "decided_at": now, "decided_by": principal.label, "decision_note": reason}
        if msg["approval_status"] == "pending":
            values["approval_status"] = "cancelled"
            ok = message_q.update_message(tx, message_id, values, where={"approval_status": "pending"})
        elif msg["approval_status"] is None and msg["status"] == "queued" and outbox_q.withdraw(tx, message_id, now):
            # Never held (its mode let it go out at once) and no worker has started on it yet.
            values.pop("decided_at"), values.pop("decided_by")
            ok = message_q.update_message(tx, message_id, values, where={"status": "queued", "approval_status": None})
        else:
            ok = False
        if not ok:
            fresh = message_q.by_id(tx, message_id)
            state = "approved and on its way out" if fresh["approval_status"] == "approved" and fresh["status"] == "queued" else fresh["status"]
            raise Conflict(
                f"Message {message_id} can no longer be cancelled (it is {state}).",
                code="already_sent" if fresh["status"] in ("sending", "sent") else "invalid_state",
                details={"message_id": message_id, "status": fresh["status"], "approval_status": fresh["approval_status"]},
            )
        msg = {**msg, **values}
        record(tx, at=now, principal=principal, action="message.cancelled", mailbox=mailbox, message=msg,
               details={"reason": reason}, event="message.cancelled", event_data=pending_item(msg, mailbox))
    return pending_item(msg, mailbox)
