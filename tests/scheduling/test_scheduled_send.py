"""Scheduled send over the verb API: send_at on send_email / reply_email, oversight both ways
(gate_first, schedule_first), edit_scheduled_email, cancel, bad input. Every message goes to a
remote address, so capture mode records exactly when it was handed over."""

from __future__ import annotations

import secrets

from tests.api.helpers import assert_error, snapshot, wait_status
from tests.conftest import wait_for

from .conftest import ahead, parse_time

REMOTE = "ana@partner.test"


def _send(api, box: str, **fields):
    body = {"from": box, "to": REMOTE, "subject": f"Later {secrets.token_hex(3)}", "body": "See you then.", **fields}
    return api.post("send_email", body)


def _ok(r, status: int = 200):
    assert r.status_code == status, r.text
    return r.json()


def test_a_scheduled_message_waits_for_its_time_then_goes_once(admin, agent, mailbox, captured):
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)
    when = ahead(3)
    sent = _ok(_send(key, box, send_at=when))
    assert sent["status"] == "scheduled" and sent["approval_status"] is None
    assert parse_time(sent["send_at"]) == parse_time(when)
    view = key.ok("GET", "read_email", message_id=sent["message_id"])
    assert view["status"] == "scheduled" and parse_time(view["send_at"]) == parse_time(when)
    assert captured(sent["message_id"]) == []
    wait_status(key, sent["message_id"], "sent", timeout=20)
    [(at, rcpt, _raw)] = captured(sent["message_id"])
    assert at >= parse_time(when), f"handed over at {at}, before its send_at {when}"
    assert rcpt == [REMOTE]
    events = [e["action"] for e in admin.ok("GET", "audit_log", mailbox=box, limit=100)["events"]]
    assert "message.send" in events and "message.sent" in events


def test_a_time_within_the_clock_skew_means_now_and_bad_times_change_nothing(admin, agent, mailbox):
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)
    now_ish = _ok(_send(key, box, send_at=ahead(-60)))  # a minute behind: a caller's clock, not a mistake
    assert now_ish["status"] == "queued" and now_ish["send_at"] is None
    wait_status(key, now_ish["message_id"], "sent")
    before = snapshot(admin, box)
    for value, code in [(ahead(-3600), "send_at_in_past"), (ahead(400 * 86400), "send_at_too_far"),
                        ("2026-12-01T09:00:00", "invalid_send_at"), ("next tuesday", "invalid_send_at"),
                        ("", "invalid_send_at"), ("2026-13-45T99:00:00Z", "invalid_send_at")]:
        err = assert_error(_send(key, box, send_at=value), 400, code)
        assert err["details"]["field"] == "send_at"
    assert_error(_send(key, box, send_at=1767258000), 400)  # an epoch number: ISO 8601 only
    assert_error(_send(key, box, send_at=ahead(60), gate_timing="whenever"), 400)
    assert snapshot(admin, box) == before


def test_gate_first_approve_now_send_later(agent, approver, mailbox, captured):
    box = mailbox(oversight_mode="gated_send")
    key, human = agent(box), approver(box)
    when = ahead(4)
    sent = _ok(_send(key, box, send_at=when))
    assert sent["status"] == "pending" and sent["approval_status"] == "pending" and sent["send_at"]
    [item] = [m for m in human.ok("GET", "list_pending", mailbox=box)["messages"] if m["message_id"] == sent["message_id"]]
    assert item["send_at"] == sent["send_at"]  # the approver sees when it will leave
    human.ok("POST", "approve_message", {"message_id": sent["message_id"]})
    view = key.ok("GET", "read_email", message_id=sent["message_id"])
    assert (view["status"], view["approval_status"]) == ("scheduled", "approved")
    wait_status(key, sent["message_id"], "sent", timeout=20)
    [(at, _, _)] = captured(sent["message_id"])
    assert at >= parse_time(when)


def test_schedule_first_asks_the_approvers_when_it_falls_due(admin, agent, approver, mailbox, captured):
    box = mailbox(oversight_mode="gated_send", gate_timing="schedule_first")
    [info] = [m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == box]
    assert info["gate_timing"] == "schedule_first"
    key, human = agent(box), approver(box)
    when = ahead(2)
    sent = _ok(_send(key, box, send_at=when))
    assert (sent["status"], sent["approval_status"]) == ("scheduled", None)
    assert human.ok("GET", "list_pending", mailbox=box)["messages"] == []  # nobody is asked before it is due
    held = wait_status(key, sent["message_id"], "pending", timeout=20)
    assert held["approval_status"] == "pending"
    assert captured(sent["message_id"]) == []  # held, not sent, when due
    assert [m["message_id"] for m in human.ok("GET", "list_pending", mailbox=box)["messages"]] == [sent["message_id"]]
    actions = [e["action"] for e in admin.ok("GET", "audit_log", mailbox=box, limit=100)["events"]]
    assert "message.held_when_due" in actions
    human.ok("POST", "approve_message", {"message_id": sent["message_id"]})
    wait_status(key, sent["message_id"], "sent")
    assert len(captured(sent["message_id"])) == 1


def test_gate_timing_may_only_be_made_stricter_by_an_agent(admin, agent, mailbox):
    strict = mailbox(oversight_mode="gated_send", gate_timing="schedule_first")
    loose = mailbox(oversight_mode="gated_send")
    before = snapshot(admin, strict)
    err = assert_error(_send(agent(strict), strict, send_at=ahead(60), gate_timing="gate_first"), 403, "oversight_floor")
    assert err["details"]["field"] == "gate_timing"
    assert snapshot(admin, strict) == before
    stricter = _ok(_send(agent(loose), loose, send_at=ahead(60), gate_timing="schedule_first"))
    assert (stricter["status"], stricter["approval_status"]) == ("scheduled", None)
    by_admin = _ok(_send(admin, strict, send_at=ahead(60), gate_timing="gate_first"))
    assert by_admin["status"] == "pending"
    for m in (stricter, by_admin):
        admin.ok("POST", "cancel_message", {"message_id": m["message_id"]})


def test_editing_an_approved_message_puts_it_back_and_its_recipients_are_locked(admin, agent, approver, mailbox):
    box = mailbox(oversight_mode="gated_send")
    key, human = agent(box), approver(box)
    sent = _ok(_send(key, box, send_at=ahead(300)))
    human.ok("POST", "approve_message", {"message_id": sent["message_id"]})
    assert key.ok("GET", "read_email", message_id=sent["message_id"])["status"] == "scheduled"

    before = snapshot(admin, box)
    err = assert_error(key.post("edit_scheduled_email", {"message_id": sent["message_id"], "to": "eve@elsewhere.test"}),
                       409, "recipients_locked")
    assert err["details"]["fields"] == ["to"]
    assert_error(key.post("edit_scheduled_email", {"message_id": sent["message_id"], "bcc": ["eve@elsewhere.test"],
                                                   "subject": "Also this"}), 409, "recipients_locked")
    assert snapshot(admin, box) == before
    view = key.ok("GET", "read_email", message_id=sent["message_id"])
    assert (view["status"], view["approval_status"], view["bcc"]) == ("scheduled", "approved", [])

    same = _ok(key.post("edit_scheduled_email", {"message_id": sent["message_id"], "subject": view["subject"]}))
    assert (same["status"], same["approval_status"]) == ("scheduled", "approved")  # nothing changed: still approved
    edited = _ok(key.post("edit_scheduled_email", {"message_id": sent["message_id"], "subject": "Moved", "send_at": ahead(600)}))
    assert (edited["status"], edited["approval_status"]) == ("pending", "pending")
    pending = human.ok("GET", "list_pending", mailbox=box)["messages"]
    assert [(m["message_id"], m["subject"]) for m in pending] == [(sent["message_id"], "Moved")]
    # Not approved any more: now its recipients may change, and the approver sees the new ones.
    _ok(key.post("edit_scheduled_email", {"message_id": sent["message_id"], "to": ["bo@partner.test"]}))
    assert human.ok("GET", "list_pending", mailbox=box)["messages"][0]["to"] == ["bo@partner.test"]
    human.ok("POST", "approve_message", {"message_id": sent["message_id"]})
    assert key.ok("GET", "read_email", message_id=sent["message_id"])["status"] == "scheduled"
    key.ok("POST", "cancel_message", {"message_id": sent["message_id"]})


def test_a_scheduled_reply_that_gains_a_stranger_is_held(admin, agent, approver, mailbox, inbound):
    box = mailbox(oversight_mode="gated_send")
    key = agent(box)
    incoming = inbound(box)
    reply = _ok(key.post("reply_email", {"message_id": incoming["message_id"], "body": "Tomorrow.", "send_at": ahead(300)}))
    assert (reply["status"], reply["approval_status"]) == ("scheduled", None)  # a reply in the conversation
    edited = _ok(key.post("edit_scheduled_email", {"message_id": reply["message_id"], "bcc": ["eve@elsewhere.test"]}))
    assert (edited["status"], edited["approval_status"]) == ("pending", "pending")
    assert reply["message_id"] in [m["message_id"] for m in approver(box).ok("GET", "list_pending", mailbox=box)["messages"]]
    key.ok("POST", "cancel_message", {"message_id": reply["message_id"]})


def test_edit_and_cancel_rules(admin, agent, approver, mailbox, make_key, captured):
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)
    sent = _ok(_send(key, box, send_at=ahead(300)))
    moved = _ok(key.post("edit_scheduled_email", {"message_id": sent["message_id"], "send_at": ahead(2), "to": ["bo@partner.test"]}))
    assert moved["status"] == "scheduled"
    wait_status(key, sent["message_id"], "sent", timeout=20)
    [(_, rcpt, _)] = captured(sent["message_id"])
    assert rcpt == ["bo@partner.test"]
    assert_error(key.post("edit_scheduled_email", {"message_id": sent["message_id"], "subject": "Too late"}), 409, "invalid_state")
    assert_error(key.post("edit_scheduled_email", {"message_id": sent["message_id"]}), 400, "missing_field")

    later = _ok(_send(key, box, send_at=ahead(300)))
    other = make_key("agent", [box])
    assert_error(other.post("edit_scheduled_email", {"message_id": later["message_id"], "subject": "Mine now"}), 403, "not_message_owner")
    assert_error(key.post("edit_scheduled_email", {"message_id": later["message_id"], "send_at": ahead(-7200)}), 400, "send_at_in_past")
    assert_error(key.post("edit_scheduled_email", {"message_id": "msg_nope", "subject": "x"}), 404)
    cancelled = key.ok("POST", "cancel_message", {"message_id": later["message_id"]})
    assert cancelled["status"] == "cancelled"
    assert key.ok("GET", "read_email", message_id=later["message_id"])["status"] == "cancelled"
    assert later["message_id"] not in [m["message_id"] for m in admin.ok("GET", "list_pending", mailbox=box)["messages"]]
    assert captured(later["message_id"]) == []

    gated = mailbox(oversight_mode="gated_send")
    approved = _ok(_send(agent(gated), gated, send_at=ahead(300)))
    approver(gated).ok("POST", "approve_message", {"message_id": approved["message_id"]})
    assert admin.ok("POST", "cancel_message", {"message_id": approved["message_id"]})["status"] == "cancelled"
    listed = {m["message_id"]: m["status"] for m in admin.ok("GET", "list_pending", mailbox=gated)["messages"]}
    assert listed[approved["message_id"]] == "cancelled"  # the approver sees the approval withdrawn


def test_the_schedule_is_part_of_the_request_for_idempotency(agent, mailbox):
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)
    when, idem_key = ahead(300), secrets.token_hex(8)
    body = {"from": box, "to": REMOTE, "subject": "Once", "body": "once", "send_at": when}
    first = _ok(key.post("send_email", body, headers={"Idempotency-Key": idem_key}))
    again = _ok(key.post("send_email", body, headers={"Idempotency-Key": idem_key}))
    assert again["message_id"] == first["message_id"] and again["duplicate"] is True
    assert_error(key.post("send_email", {**body, "send_at": ahead(900)}, headers={"Idempotency-Key": idem_key}),
                 409, "idempotency_key_reused")
    other_time = _ok(key.post("send_email", {**body, "send_at": ahead(900)}))  # no key: another time is another message
    assert other_time["message_id"] != first["message_id"]
    for m in (first, other_time):
        key.ok("POST", "cancel_message", {"message_id": m["message_id"]})


def test_webhook_event_for_a_scheduled_message(admin, agent, mailbox):
    box = mailbox(oversight_mode="autonomous")
    assert "message.scheduled" in [e["type"] for e in admin.ok("GET", "list_event_types")["event_types"]]
    sent = _ok(_send(agent(box), box, send_at=ahead(300)))

    def queued_event():
        events = admin.ok("GET", "audit_log", mailbox=box, limit=100)["events"]
        return [e for e in events if e["action"] == "message.send" and e.get("message_id") == sent["message_id"]] or None

    [event] = wait_for(queued_event, what="the send's audit event")
    assert event["details"]["send_at"] == sent["send_at"]
    admin.ok("POST", "cancel_message", {"message_id": sent["message_id"]})


def test_a_contacts_only_mailbox_holds_a_scheduled_message_edited_to_a_stranger(admin, agent, approver, mailbox):
    box = mailbox(oversight_mode="autonomous", contacts_only=True)
    admin.ok("POST", "add_contact", {"mailbox": box, "email": REMOTE})
    key = agent(box)
    sent = _ok(_send(key, box, send_at=ahead(300)))
    assert (sent["status"], sent["approval_status"]) == ("scheduled", None)  # a known contact: no approval
    edited = _ok(key.post("edit_scheduled_email", {"message_id": sent["message_id"], "to": ["eve@elsewhere.test"]}))
    assert (edited["status"], edited["approval_status"]) == ("pending", "pending")
    assert sent["message_id"] in [m["message_id"] for m in approver(box).ok("GET", "list_pending", mailbox=box)["messages"]]
    key.ok("POST", "cancel_message", {"message_id": sent["message_id"]})


def test_cancelling_a_never_held_queued_message_answers_cancelled(admin, agent, mailbox):
    """The same answer as for a scheduled one (it used to be a 500 when the cancel won the race
    against the worker); the kill switch keeps the worker off it, so the cancel always wins."""
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)
    admin.ok("POST", "pause_outbound", {"mailbox": box, "reason": "hold everything"})
    try:
        sent = _ok(_send(key, box))
        assert sent["status"] == "queued"
        cancelled = key.ok("POST", "cancel_message", {"message_id": sent["message_id"]})
        assert (cancelled["status"], cancelled["message_status"]) == ("cancelled", "cancelled")
    finally:
        admin.ok("POST", "resume_outbound", {"mailbox": box})
