"""Scheduled send after submission: a message falling due, and an edit of a scheduled message.

A scheduled message (services/sending._submit with `send_at`) waits in the outbox: its row's
`not_before` keeps every worker off it until its time (store/outbox.claim_due), and the row is
what survives a restart. When the delivery worker claims it, `fall_due` decides what it becomes:

- it needed no approval, or was approved ahead of time (gate_first): it is `queued` and goes out
  in the same delivery pass;
- it is held when due (schedule_first): it becomes `pending`, its approvers are notified, and the
  outbox row is removed; an approval queues it again (services/approvals.approve_held).

`edit_scheduled_email` changes a message that has not left: its time, recipients, subject or body.
Oversight applies to the edit as to a send: an approved message goes back to its approvers
(any change, its time included: an approval may have been given for that time, e.g. after an
embargo), its recipients cannot change after approval (409 `recipients_locked`: the approvers
approved who it goes to), and a message that needed no approval is judged again when its
recipients change (a reply that now reaches a stranger is held, as reply_email would hold it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from ..core.access import Principal, Scope
from ..core.addresses import parse_address
from ..core.approval_policy import HeldPolicy, held_policy
from ..core.errors import BadRequest, Conflict, Forbidden
from ..core.oversight import Action, Mode, Outcome, outcome_for
from ..core.scheduling import SCHEDULE_FIRST, applied_gate_timing, parse_send_at
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from ..store import outbox as outbox_q
from .approval_notices import approvers_of, notify
from .common import all_recipients, find_message, iso, record
from .context import Context
from .suppressions import refuse_suppressed, suppressed_details, suppressed_entries, why_suppressed
from .views import send_result

_RECIPIENTS = ("to_addrs", "cc_addrs", "bcc_addrs")


def fall_due(tx: Connection, ctx: Context, *, msg: dict[str, Any], seq: int, now) -> dict[str, Any] | None:
    """The scheduled message `msg` (locked) whose outbox row `seq` a worker claimed at its time:
    the message, now `queued`, to deliver; or None when it was held for approval instead, or
    failed because a recipient was suppressed while it waited (the row is finished either way)."""
    mailbox = mailbox_q.by_id(tx, msg["mailbox_id"])
    assert mailbox is not None
    stopped = suppressed_entries(tx, mailbox, all_recipients(msg))
    if stopped:
        return _fail_suppressed(tx, msg=msg, mailbox=mailbox, seq=seq, entries=stopped, now=now)
    if msg["approval_status"] is None and msg.get("gate_timing") == SCHEDULE_FIRST:
        policy = HeldPolicy.from_json(msg.get("approval_policy"))
        values: dict[str, Any] = {"status": "pending", "approval_status": "pending", "approvals": [],
                  "approval_due_at": now + timedelta(seconds=policy.timeout) if policy.timeout else None}
        if not message_q.update_message(tx, msg["id"], values, where={"status": "scheduled"}):
            return message_q.by_id(tx, msg["id"])  # changed meanwhile: delivery finishes the row by its state
        outbox_q.release(tx, seq)
        msg = {**msg, **values}
        people = approvers_of(mailbox, policy)
        if people:
            notify(tx, msg=msg, mailbox=mailbox, approvers=people, now=now,
                   link_ttl_seconds=ctx.settings.approval_link_ttl_seconds)
        record(tx, at=now, principal=None, action="message.held_when_due", mailbox=mailbox, message=msg,
               details={"send_at": iso(msg.get("send_at")), "gate_timing": SCHEDULE_FIRST},
               event="message.pending", event_data=send_result(msg, duplicate=False))
        return None
    if not message_q.update_message(tx, msg["id"], {"status": "queued"}, where={"status": "scheduled"}):
        return message_q.by_id(tx, msg["id"])
    return {**msg, "status": "queued"}


def _fail_suppressed(tx: Connection, *, msg: dict[str, Any], mailbox: dict[str, Any], seq: int,
                     entries: list[dict[str, Any]], now) -> dict[str, Any] | None:
    """A scheduled message whose recipient was suppressed after it was accepted (a hard bounce or
    complaint about an earlier message, or an entry added by hand): the list refuses further
    sends, this one included, so it fails (message.failed, naming the entry) instead of leaving.
    Approved or not: an approval was of the message, not of sending to an address that since
    bounced or complained. Nothing goes to the other recipients either: the message was approved
    (or written) as a whole; the agent can send again without the suppressed address."""
    error = why_suppressed(entries[0]) + "; not sent (it was suppressed while the message waited for its time)"
    if not message_q.update_message(tx, msg["id"], {"status": "failed", "failure_reason": error}, where={"status": "scheduled"}):
        return message_q.by_id(tx, msg["id"])  # changed meanwhile: delivery finishes the row by its state
    outbox_q.finish(tx, seq, state="failed", now=now, error=error)
    msg = {**msg, "status": "failed", "failure_reason": error}
    data = {"message_id": msg["id"], "thread_id": msg["thread_id"], "status": "failed", "error": error}
    record(tx, at=now, principal=None, action="message.failed", mailbox=mailbox, message=msg,
           details={"error": error, "uncertain": False, "suppressed": suppressed_details(entries)},
           event="message.failed", event_data=data)
    return None


def _owner_or_admin(principal: Principal, msg: dict[str, Any]) -> None:
    if not principal.has(Scope.ADMIN) and msg["created_by"] != principal.label:
        raise Forbidden("Only the key that scheduled this message, or an admin, may edit it.", code="not_message_owner")


def _not_editable(msg: dict[str, Any], why: str) -> Conflict:
    return Conflict(f"Message {msg['id']} cannot be edited: {why}.", code="invalid_state",
                    details={"message_id": msg["id"], "status": msg["status"], "approval_status": msg["approval_status"]})


def _needs_approval_now(tx: Connection, msg: dict[str, Any], mailbox: dict[str, Any], edits: dict[str, Any]) -> bool:
    """For a message that needed no approval: whether its new recipients need one, under the mode
    it was sent under (a reply is judged as reply_email judges it), and under the mailbox's
    contacts_only (a recipient who is not an approved contact is held, as at submission)."""
    from .contacts import unknown_recipients
    from .sending import Draft, _reply_action

    if not any(c in edits for c in _RECIPIENTS):
        return False
    if mailbox.get("contacts_only"):
        every = [parse_address(a, "to").addr_spec for c in _RECIPIENTS for a in edits.get(c, msg[c])]
        if unknown_recipients(tx, mailbox, every):
            return True
    action = Action.SEND
    parent = message_q.by_id(tx, msg["parent_id"]) if msg["parent_id"] else None
    if parent is not None:
        draft = Draft(to=[parse_address(a, "to") for a in edits.get("to_addrs", msg["to_addrs"])],
                      cc=[parse_address(a, "cc") for a in edits.get("cc_addrs", msg["cc_addrs"])],
                      bcc=[parse_address(a, "bcc") for a in edits.get("bcc_addrs", msg["bcc_addrs"])])
        action, _ = _reply_action(tx, parent, draft)
    elif msg["kind"] == "decision":
        action = Action.DECIDE
    return outcome_for(Mode(msg["oversight_mode"]), action) is Outcome.HOLD


def edit_scheduled_email(
    ctx: Context,
    *,
    principal: Principal,
    message_id: str,
    send_at: str | None = None,
    to: str | list[str] | None = None,
    cc: str | list[str] | None = None,
    bcc: str | list[str] | None = None,
    subject: str | None = None,
    body: str | None = None,
    html: str | None = None,
) -> dict[str, Any]:
    """Change a message that waits for its send_at (or is held with one): see the module
    docstring. `send_at` within the clock-skew allowance of now means "as soon as allowed"."""
    from .approvals import _diff, _edits

    now = ctx.now()
    when = parse_send_at(send_at, now=now) if send_at is not None else None
    edits = _edits(subject, body, html, to, cc, bcc)
    if not edits and send_at is None:
        raise BadRequest("Give at least one of send_at, to, cc, bcc, subject or body to change.", code="missing_field",
                         details={"fields": ["send_at", "to", "cc", "bcc", "subject", "body"]})
    with ctx.store.write() as tx:
        msg, mailbox = find_message(tx, principal, message_id, lock=True)
        if msg["direction"] != "outbound":
            raise _not_editable(msg, "it is not an outbound message")
        _owner_or_admin(principal, msg)
        scheduled = msg["status"] == "scheduled"
        held = msg["approval_status"] == "pending" and msg.get("send_at") is not None
        if not (scheduled or held):
            raise _not_editable(msg, f"it is {msg['status']}, not scheduled")
        edits = {c: v for c, v in edits.items() if msg[c] != v}
        approved = msg["approval_status"] == "approved"
        changed_recipients = sorted(c.removesuffix("_addrs") for c in _RECIPIENTS if c in edits)
        if approved and changed_recipients:
            raise Conflict("The recipients of an approved message cannot change: its approvers approved who it goes to. "
                           "Cancel it and send a new one.", code="recipients_locked",
                           details={"message_id": message_id, "fields": changed_recipients})
        new_time = (when if send_at is not None else msg.get("send_at"))
        if new_time is not None and new_time <= now:
            new_time = None
        if not edits and new_time == msg.get("send_at"):
            return send_result(msg, duplicate=False)  # nothing changes: an approval stays an approval
        if changed_recipients:
            refuse_suppressed(tx, mailbox, [parse_address(a, "to").addr_spec for c in _RECIPIENTS for a in edits.get(c, [])])
        if scheduled and not outbox_q.unschedule(tx, message_id):
            raise _not_editable(msg, "it is on its way out")
        values: dict[str, Any] = {**edits, "send_at": new_time}
        timing = msg.get("gate_timing")
        requeued = False
        if approved or held or (msg["approval_status"] is None and timing != SCHEDULE_FIRST and _needs_approval_now(tx, msg, mailbox, edits)):
            if timing is None:  # it needed no approval until now: the mailbox says when it is asked
                timing = applied_gate_timing(default=mailbox.get("gate_timing"), override=None, is_admin=True)
                policy = held_policy(mailbox, is_admin=False, allow_approve=ctx.settings.allow_approve_on_timeout)
                values.update(gate_timing=timing, approval_policy=policy.as_json())
            policy = HeldPolicy.from_json(values.get("approval_policy") or msg.get("approval_policy"))
            if timing == SCHEDULE_FIRST and new_time is not None and not approved and not held:
                values.update(status="scheduled", approval_status=None)
            else:
                requeued = True
                values.update(status="pending", approval_status="pending", approvals=[], approved_content_hash=None,
                              decided_at=None, decided_by=None, decision_note=None)
                if not held:  # a message already held keeps its deadline: an edit does not buy it time
                    values["approval_due_at"] = now + timedelta(seconds=policy.timeout) if policy.timeout else None
        else:
            values["status"] = "scheduled" if new_time is not None else "queued"
        if not message_q.update_message(tx, message_id, values, where={"status": msg["status"]}):
            raise _not_editable(msg, "it changed meanwhile")
        before = msg
        msg = {**msg, **values}
        if not requeued:
            outbox_q.enqueue(tx, message_id, now, not_before=new_time)
        else:
            people = approvers_of(mailbox, HeldPolicy.from_json(msg.get("approval_policy")))
            if people:
                notify(tx, msg=message_q.by_id(tx, message_id) or msg, mailbox=mailbox, approvers=people, now=now,
                       link_ttl_seconds=ctx.settings.approval_link_ttl_seconds, reason="edited" if held else "held")
        details = {"send_at_before": iso(before.get("send_at")), "send_at": iso(msg.get("send_at")),
                   "changes": _diff(before, edits), "edited": sorted(edits), "back_to_approval": requeued and approved,
                   "status": msg["status"]}
        record(tx, at=now, principal=principal, action="message.schedule_edited", mailbox=mailbox, message=msg,
               details=details, event="message.pending" if requeued else "message.scheduled" if new_time else "message.queued",
               event_data=send_result(msg, duplicate=False))
        return send_result(msg, duplicate=False)
