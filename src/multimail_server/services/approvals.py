"""The human gate: list pending mail, edit, approve (optionally edited), reject, cancel.

Every transition is a compare-and-set on the approval status inside one transaction, so two
humans clicking at once, or an approval racing a cancellation, resolve to exactly one outcome and
the loser gets a 409. A held message reaches the outbox only through `approve_message`.

An approval is bound to the content the approver was shown: every pending item carries its
content version (`content_hash`, core/content_version.py); approve_message given that hash refuses
(409 `content_changed`) when the message changed since, records the version it approved on the
message (`approved_content_hash`) and in the audit trail, and the delivery worker sends only a
message whose content still has that version (`approved_content_matches`).
"""

from __future__ import annotations

import difflib
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from ..core import flow_run_waits
from ..core.access import Principal, Scope, require_scope
from ..core.addresses import parse_address_list
from ..core.approval_policy import HeldPolicy, distinct_approvers
from ..core.content_version import attachment_digest
from ..core.errors import BadRequest, Conflict, Forbidden
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from ..store import outbox as outbox_q
from .approval_notices import approvers_of, notify
from .common import all_recipients, find_mailbox, find_message, iso, record, scoped_mailbox_ids
from .context import Context
from .suppressions import refuse_suppressed
from .views import message_version, pending_item

MAX_NOTE = 2000


def list_pending(ctx: Context, *, principal: Principal, mailbox: str | None = None,
                 flow_run_id: str | None = None) -> dict[str, Any]:
    """Pending messages plus those decided in the last 24 h (docs/api.md), oldest first; with
    `flow_run_id`, the held messages that Prefect flow run queued (its cancellation hook
    withdraws the pending ones)."""
    since = ctx.now() - timedelta(seconds=ctx.settings.decided_visible_seconds)
    if flow_run_id is not None:
        flow_run_id = flow_run_waits.flow_run_id(flow_run_id)
    with ctx.store.read() as tx:
        if mailbox is not None:
            ids: list[str] | None = [find_mailbox(tx, principal, mailbox)["id"]]
        else:
            ids = scoped_mailbox_ids(tx, principal)
        rows = message_q.pending_and_recent(tx, mailbox_ids=ids, decided_since=since, flow_run_id=flow_run_id)
        boxes = {m["id"]: m for m in mailbox_q.list_all(tx, principal.mailboxes)}
        rows = [r for r in rows if r["mailbox_id"] in boxes]
        return {"messages": pending_views(tx, [(r, boxes[r["mailbox_id"]]) for r in rows])}


# SHA-256 of attachments by id, for the content versions of approval items. Attachments are
# never changed once stored, so a digest stays right; without this every list_pending (and every
# long-poll wake-up) would read and hash every held attachment again, up to the message size limit
# each. Bounded; approve/edit and the delivery worker always hash the stored bytes themselves.
_DIGESTS: dict[str, str] = {}
_MAX_DIGESTS = 10_000


def _with_digests(tx: Connection, attachments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The attachments with their `sha256`, reading the content only of those not seen before."""
    known = {a["id"]: _DIGESTS.get(a["id"]) for a in attachments}
    missing = [att_id for att_id, digest in known.items() if digest is None]
    for att_id, content in message_q.attachment_contents(tx, missing).items():
        known[att_id] = attachment_digest(content)
    if len(_DIGESTS) + len(missing) > _MAX_DIGESTS:
        _DIGESTS.clear()
    _DIGESTS.update({att_id: known[att_id] for att_id in missing})
    return [{**a, "sha256": known[a["id"]]} for a in attachments]


def pending_views(tx: Connection, items: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Approval items with everything that will leave (views.review_fields): their attachments
    and why each was held, read in a few queries for the whole list."""
    ids = [msg["id"] for msg, _ in items]
    listed = message_q.attachments_of_many(tx, ids)
    attachments = {mid: _with_digests(tx, atts) for mid, atts in listed.items()}
    reasons = message_q.held_reasons(tx, ids)
    return [pending_item(msg, box, attachments[msg["id"]], reasons.get(msg["id"])) for msg, box in items]


def pending_view(tx: Connection, msg: dict[str, Any], mailbox: dict[str, Any]) -> dict[str, Any]:
    """One approval item, as list_pending shows it (for read_email, a single-message long-poll and
    the answers of approve/edit/reject/cancel)."""
    return pending_views(tx, [(msg, mailbox)])[0]


def approved_content_matches(msg: dict[str, Any], attachments: list[dict[str, Any]]) -> bool:
    """Whether an approved message still has the content version its approval recorded; the
    delivery worker calls it just before composing, so what goes out is what was approved.
    `attachments` carry their content. A message never held has no approval to match (True); one
    approved before versions were recorded (no hash) is taken as approved."""
    if msg["approval_status"] != "approved" or not msg.get("approved_content_hash"):
        return True
    return message_version(msg, attachments) == msg["approved_content_hash"]


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


_HASH = re.compile(r"^[0-9a-f]{64}$")
# Stored fields an approver may edit, and the request fields that name them.
_EDITABLE = {"subject": "subject", "body_text": "body", "body_html": "html", "to_addrs": "to", "cc_addrs": "cc",
             "bcc_addrs": "bcc"}
_RECIPIENTS = ("to_addrs", "cc_addrs", "bcc_addrs")


def _content_hash(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HASH.match(value):
        raise BadRequest("content_hash must be the 64 lowercase hex digits of a pending item's content_hash.",
                         code="invalid_field", details={"field": "content_hash"})
    return value


def _edits(subject: str | None, body: str | None, html: str | None, to: Any = None, cc: Any = None,
           bcc: Any = None) -> dict[str, Any]:
    """An approver's edits as stored fields, under the same field rules as at submission
    (recipients parsed as send_email parses them: `to` needs one address, `cc`/`bcc` may be
    emptied with [])."""
    from .sending import _subject, _text

    edits: dict[str, Any] = {}
    for column, value, required in (("to_addrs", to, True), ("cc_addrs", cc, False), ("bcc_addrs", bcc, False)):
        if value is not None:
            edits[column] = [a.formatted() for a in parse_address_list(value, _EDITABLE[column], required=required)]
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
    return edits


def _diff(msg: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    """The changed fields, for the audit trail: a unified diff (difflib) of each changed body,
    the old and new value of a changed subject."""
    changes: dict[str, Any] = {}
    for column, value in edits.items():
        old = msg[column]
        if old == value:
            continue
        name = _EDITABLE[column]
        if column == "subject" or column in _RECIPIENTS:
            changes[name] = {"old": old, "new": value}
        else:
            lines = difflib.unified_diff((old or "").splitlines(), (value or "").splitlines(), f"{name} (before)",
                                         f"{name} (after)", lineterm="")
            changes[name] = {"diff": "\n".join(lines), "removed": value is None, "added": old is None}
    return changes


def _held_for_change(tx: Connection, principal: Principal, message_id: str, content_hash: str | None):
    """The pending message (locked), its mailbox and attachments, and its current content version,
    after checking that the caller saw this version (when it says which it saw)."""
    msg, mailbox = find_message(tx, principal, message_id, lock=True)
    if msg["approval_status"] != "pending":
        raise _not_pending(msg)
    attachments = message_q.attachments_of(tx, message_id, with_content=True)
    current = message_version(msg, attachments)
    if content_hash is not None and content_hash != current:
        raise Conflict(
            f"Message {message_id} changed since that version was shown; review it again.",
            code="content_changed",
            details={"message_id": message_id, "content_hash": content_hash, "current_content_hash": current},
        )
    return msg, mailbox, attachments, current


def approve_message(
    ctx: Context,
    *,
    principal: Principal,
    message_id: str,
    note: str | None = None,
    subject: str | None = None,
    body: str | None = None,
    html: str | None = None,
    content_hash: str | None = None,
    to: str | list[str] | None = None,
    cc: str | list[str] | None = None,
    bcc: str | list[str] | None = None,
) -> dict[str, Any]:
    """Approve a held message, with the approver's edits if any (recipients too, as in
    edit_message); it then goes to the outbox.
    With `content_hash` (the version the approver was shown), a message that changed since is
    refused with 409 `content_changed` and nothing changes. The version approved (after the edits)
    is recorded on the message and in the audit event. Under N of M (`approvals_required` > 1)
    the approval is counted and the message stays pending until enough different approvers
    approved the same version (the answer lists `approvals`)."""
    require_scope(principal.scopes, Scope.OVERSIGHT, "approve messages")
    note = _note(note, "note")
    content_hash = _content_hash(content_hash)
    edits = _edits(subject, body, html, to, cc, bcc)
    now = ctx.now()
    with ctx.store.write() as tx:
        msg, mailbox, attachments, shown = _held_for_change(tx, principal, message_id, content_hash)
        item = approve_held(tx, now=now, principal=principal, msg=msg, mailbox=mailbox, content_hash=shown, note=note,
                            edits=edits, attachments=attachments, link_ttl_seconds=ctx.settings.approval_link_ttl_seconds)
    return item


def approve_held(tx: Connection, *, now: datetime, principal: Principal, msg: dict[str, Any], mailbox: dict[str, Any],
                 content_hash: str, note: str | None = None, edits: dict[str, Any] | None = None,
                 attachments: list[dict[str, Any]] | None = None, via: dict[str, Any] | None = None,
                 link_ttl_seconds: int = 3 * 24 * 3600) -> dict[str, Any]:
    """One approval of the pending (locked) message `msg`, whose current version is
    `content_hash`, by any interface (API, approval link, approval reply). Counts toward N of M;
    the last one needed approves and queues the message. Edits given with an approval reset the
    approvals collected for the earlier version."""
    edits = edits or {}
    message_id = msg["id"]
    if attachments is None:
        attachments = message_q.attachments_of(tx, message_id, with_content=True)
    current = message_version(msg, attachments)
    if current != content_hash:
        raise Conflict(f"Message {message_id} changed since that version was shown; review it again.", code="content_changed",
                       details={"message_id": message_id, "content_hash": content_hash, "current_content_hash": current})
    approved = message_version({**msg, **edits}, attachments)
    policy = HeldPolicy.from_json(msg.get("approval_policy"))
    # Only approvals of this very version count; an edit starts the count again.
    approvals = [a for a in msg.get("approvals") or [] if a.get("content_hash") == approved]
    entry = {"by": principal.label, "at": iso(now), "content_hash": approved, **({"via": via["via"]} if via else {})}
    if principal.label not in distinct_approvers(approvals):
        approvals.append(entry)
    extra = {**(via or {}), **({"note": note} if note else {})}
    if len(distinct_approvers(approvals)) < policy.required:
        values = {**edits, "approvals": approvals}
        if not message_q.update_message(tx, message_id, values, where={"approval_status": "pending"}):
            raise _not_pending(message_q.by_id(tx, message_id) or msg)
        msg = {**msg, **values}
        details: dict[str, Any] = {**extra, "content_hash": approved, "approvals": distinct_approvers(approvals),
                                   "approvals_required": policy.required}
        if edits:
            details.update(edited=sorted(edits), content_hash_before_edit=content_hash, changes=_diff(msg, edits))
        record(tx, at=now, principal=principal, action="message.approval_recorded", mailbox=mailbox, message=msg, details=details)
        if edits:
            notify(tx, msg=msg, mailbox=mailbox, approvers=approvers_of(mailbox, policy), now=now,
                   link_ttl_seconds=link_ttl_seconds, reason="edited")
        return pending_view(tx, msg, mailbox)
    # The deciding approval: not to an address suppressed since the message was held (409, nothing
    # changes; the approver may remove the entry and approve again).
    refuse_suppressed(tx, mailbox, all_recipients({**msg, **edits}))
    # Approved ahead of its send_at (gate_first): it waits, `scheduled`, until then.
    send_at = msg.get("send_at")
    later = send_at is not None and send_at > now
    values = {**edits, "approval_status": "approved", "status": "scheduled" if later else "queued", "decided_at": now,
              "decided_by": principal.label, "decision_note": note, "approved_content_hash": approved,
              "approvals": approvals, "approval_due_at": None}
    if not message_q.update_message(tx, message_id, values, where={"approval_status": "pending"}):
        raise _not_pending(message_q.by_id(tx, message_id) or msg)
    outbox_q.enqueue(tx, message_id, now, not_before=send_at if later else None)
    details = {"note": note, "content_hash": approved, **extra}
    if policy.required > 1:
        details["approvals"] = distinct_approvers(approvals)
    if edits:
        details.update(edited=sorted(edits), content_hash_before_edit=content_hash, changes=_diff(msg, edits))
    msg = {**msg, **values}
    record(tx, at=now, principal=principal, action="message.approved", mailbox=mailbox, message=msg,
           details=details, event="message.approved", event_data=pending_item(msg, mailbox))
    return pending_view(tx, msg, mailbox)


def reject_held(tx: Connection, *, now: datetime, principal: Principal | None, msg: dict[str, Any], mailbox: dict[str, Any],
                reason: str | None, via: dict[str, Any] | None = None, decided_by: str | None = None) -> dict[str, Any]:
    """Reject the pending (locked) message `msg` (one reject rejects, whatever N of M says).
    `principal` None is the server itself (a timeout), recorded as `decided_by`."""
    values = {"approval_status": "rejected", "status": "rejected", "decided_at": now,
              "decided_by": principal.label if principal else decided_by, "decision_note": reason, "approval_due_at": None}
    if msg["approval_status"] != "pending" or not message_q.update_message(
        tx, msg["id"], values, where={"approval_status": "pending"}
    ):
        raise _not_pending(msg)
    msg = {**msg, **values}
    record(tx, at=now, principal=principal, action="message.rejected", mailbox=mailbox, message=msg,
           details={"reason": reason, **(via or {})}, event="message.rejected", event_data=pending_item(msg, mailbox))
    return pending_view(tx, msg, mailbox)


def edit_message(
    ctx: Context,
    *,
    principal: Principal,
    message_id: str,
    note: str | None = None,
    subject: str | None = None,
    body: str | None = None,
    html: str | None = None,
    to: str | list[str] | None = None,
    cc: str | list[str] | None = None,
    bcc: str | list[str] | None = None,
    content_hash: str | None = None,
) -> dict[str, Any]:
    """An approver's edit of a held message, which stays held: its content version changes, so an
    approval given for what was shown before is refused (409 `content_changed`). Audited with the
    old and new version and a diff of the changed fields. With `content_hash`, the edit applies
    only to the version the approver saw. Recipients (`to`, `cc`, `bcc`) are part of the version
    (core/content_version.py), so an approval is bound to who the message goes to as well."""
    require_scope(principal.scopes, Scope.OVERSIGHT, "edit held messages")
    note = _note(note, "note")
    content_hash = _content_hash(content_hash)
    edits = _edits(subject, body, html, to, cc, bcc)
    if not edits:
        raise BadRequest("Give at least one of subject, body, html, to, cc or bcc to edit.", code="missing_field",
                         details={"fields": ["subject", "body", "html", "to", "cc", "bcc"]})
    now = ctx.now()
    with ctx.store.write() as tx:
        msg, mailbox, attachments, before = _held_for_change(tx, principal, message_id, content_hash)
        # An approver adds a recipient under the same rule as a sender (409 suppressed).
        refuse_suppressed(tx, mailbox, [a for c in ("to_addrs", "cc_addrs", "bcc_addrs") for a in edits.get(c, [])])
        changes = _diff(msg, edits)
        # The approvals collected so far were for the earlier version: an edit starts again.
        values = {**edits, "approvals": []}
        if not message_q.update_message(tx, message_id, values, where={"approval_status": "pending"}):
            raise _not_pending(message_q.by_id(tx, message_id) or msg)
        msg = {**msg, **values}
        after = message_version(msg, attachments)
        record(tx, at=now, principal=principal, action="message.edited", mailbox=mailbox, message=msg,
               details={"note": note, "content_hash_before": before, "content_hash_after": after,
                        "edited": sorted(edits), "changes": changes})
        on_edited = HeldPolicy.from_json(msg.get("approval_policy"))
        notify(tx, msg=msg, mailbox=mailbox, approvers=approvers_of(mailbox, on_edited), now=now,
               link_ttl_seconds=ctx.settings.approval_link_ttl_seconds, reason="edited")
        return pending_view(tx, msg, mailbox)


def reject_message(ctx: Context, *, principal: Principal, message_id: str, reason: str | None = None) -> dict[str, Any]:
    require_scope(principal.scopes, Scope.OVERSIGHT, "reject messages")
    reason = _note(reason, "reason")
    now = ctx.now()
    with ctx.store.write() as tx:
        msg, mailbox = find_message(tx, principal, message_id, lock=True)
        return reject_held(tx, now=now, principal=principal, msg=msg, mailbox=mailbox, reason=reason)


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
        values = {"status": "cancelled", "decided_at": now, "decided_by": principal.label, "decision_note": reason,
                  "approval_due_at": None}
        if msg["approval_status"] == "pending":
            values["approval_status"] = "cancelled"
            ok = message_q.update_message(tx, message_id, values, where={"approval_status": "pending"})
        elif msg["status"] == "scheduled" and outbox_q.withdraw(tx, message_id, now):
            # Waiting for its send_at (approved ahead of time, or needing no approval): no worker
            # can have started on it, since none claims a row before its time. An approval given
            # ahead of time is withdrawn with it (list_pending then shows it `cancelled`); one
            # that was never held stays out of the approval queue, as a cancelled queued one does.
            if msg["approval_status"] == "approved":
                values["approval_status"] = "cancelled"
            else:
                values.pop("decided_at"), values.pop("decided_by"), values.pop("approval_due_at")
            ok = message_q.update_message(tx, message_id, values, where={"status": "scheduled"})
        elif msg["approval_status"] is None and msg["status"] == "queued" and outbox_q.withdraw(tx, message_id, now):
            # Never held (its mode let it go out at once) and no worker has started on it yet.
            values.pop("decided_at"), values.pop("decided_by"), values.pop("approval_due_at")
            ok = message_q.update_message(tx, message_id, values, where={"status": "queued", "approval_status": None})
        else:
            ok = False
        if not ok:
            fresh = message_q.by_id(tx, message_id) or msg
            state = "approved and on its way out" if fresh["approval_status"] == "approved" and fresh["status"] == "queued" else fresh["status"]
            raise Conflict(
                f"Message {message_id} can no longer be cancelled (it is {state}).",
                code="already_sent" if fresh["status"] in ("sending", "sent") else "invalid_state",
                details={"message_id": message_id, "status": fresh["status"], "approval_status": fresh["approval_status"]},
            )
        msg = {**msg, **values}
        record(tx, at=now, principal=principal, action="message.cancelled", mailbox=mailbox, message=msg,
               details={"reason": reason}, event="message.cancelled", event_data=pending_item(msg, mailbox))
        return pending_view(tx, msg, mailbox)
