"""list_pending, approve_message (with edits), reject_message, cancel_message over HTTP."""

import requests

from .helpers import all_audit, assert_error, find_in_inbox, new_address, snapshot, wait_status


def _held(key, box, to=None, subject="Needs approval", body="Draft body."):
    sent = key.ok("POST", "send_email", {"from": box, "to": to or new_address(), "subject": subject, "body": body})
    assert sent["status"] == "pending", sent
    return sent["message_id"]


def _statuses(base, key):
    """The seed's poller, verbatim: plain requests, the whole list, message_id -> status."""
    H = {"Authorization": f"Bearer {key}"}
    BASE = f"{base}/v1"
    return {m["message_id"]: m["status"] for m in requests.get(f"{BASE}/list_pending", headers=H).json()["messages"]}


def test_list_pending_shape_and_scope(admin, agent, mailbox):
    box, other = mailbox(), mailbox()
    mine = _held(admin, box, to=["Ana <ana@partner.test>", "bob@partner.test"])
    theirs = _held(admin, other)
    key = agent(box)
    listed = key.ok("GET", "list_pending")["messages"]
    assert [m["message_id"] for m in listed] == [mine]  # other mailboxes' mail is invisible
    item = listed[0]
    assert item["status"] == "pending" and item["decided_at"] is None and item["decided_by"] is None
    assert item["from"] == box and item["to"] == ["Ana <ana@partner.test>", "bob@partner.test"]
    assert item["subject"] == "Needs approval" and item["created_at"]
    assert item["mailbox"] == box and item["body"] == "Draft body."
    # The mailbox filter, by address and by id.
    assert [m["message_id"] for m in admin.ok("GET", "list_pending", mailbox=other)["messages"]] == [theirs]
    other_id = next(m["mailbox_id"] for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == other)
    assert [m["message_id"] for m in admin.ok("GET", "list_pending", mailbox=other_id)["messages"]] == [theirs]
    assert_error(key.get("list_pending", mailbox=other), 404, "mailbox_not_found")


def test_approve_delivers_and_poller_sees_approved(server, admin, agent, approver, mailbox):
    box, recipient = mailbox(), mailbox()
    key = agent(box)
    message_id = _held(key, box, to=recipient, subject="Quarterly numbers")
    assert _statuses(server.base, key.key)[message_id] == "pending"
    human = approver(box)
    answer = human.ok("POST", "approve_message", {"message_id": message_id, "note": "fine"})
    assert answer["status"] == "approved" and answer["decided_by"] and answer["decided_at"]
    wait_status(admin, message_id, "sent")
    find_in_inbox(admin, recipient, "Quarterly numbers")
    # Decided messages stay in the list with their decision, for the poller that missed it.
    assert _statuses(server.base, key.key)[message_id] == "approved"
    item = next(m for m in key.ok("GET", "list_pending")["messages"] if m["message_id"] == message_id)
    assert item["decided_by"] == answer["decided_by"] and item["decided_at"] == answer["decided_at"]
    assert item["message_status"] == "sent"
    # Approving twice is a conflict, and changes nothing.
    before = snapshot(admin, box)
    assert_error(human.post("approve_message", {"message_id": message_id}), 409)
    assert_error(human.post("reject_message", {"message_id": message_id}), 409)
    assert snapshot(admin, box) == before
    actions = [e["action"] for e in all_audit(admin, message_id=message_id)]
    assert {"message.send", "message.approved", "message.sent"} <= set(actions)
    approved = next(e for e in all_audit(admin, message_id=message_id) if e["action"] == "message.approved")
    assert approved["actor_role"] == "approver" and approved["approval_status"] == "approved"


def test_approve_with_edits_delivers_the_edit(admin, approver, mailbox):
    box, recipient = mailbox(), mailbox()
    message_id = _held(admin, box, to=recipient, subject="Draft subject", body="Draft with a typo.")
    approver(box).ok("POST", "approve_message", {"message_id": message_id, "subject": "Final subject", "body": "Final text.",
                                                 "html": "<p>Final text.</p>"})
    out = wait_status(admin, message_id, "sent")
    assert (out["subject"], out["body"], out["html"]) == ("Final subject", "Final text.", "<p>Final text.</p>")
    got = find_in_inbox(admin, recipient, "Final subject")
    full = admin.ok("GET", "read_email", message_id=got["message_id"])
    assert full["body"].strip() == "Final text." and "Draft" not in full["body"]
    assert "Final text." in full["html"]
    assert [m["subject"] for m in admin.ok("GET", "check_inbox", mailbox=recipient)["messages"]] == ["Final subject"]
    approved = next(e for e in all_audit(admin, message_id=message_id) if e["action"] == "message.approved")
    assert sorted(approved["details"]["edited"]) == ["body_html", "body_text", "subject"]


def test_approve_edit_refusals_change_nothing(admin, approver, mailbox):
    box = mailbox()
    message_id = _held(admin, box)
    human = approver(box)
    before = snapshot(admin, box)
    assert_error(human.post("approve_message", {"message_id": message_id, "subject": "Hi\r\nBcc: x@evil.test"}), 400, "header_injection")
    assert_error(human.post("approve_message", {"message_id": message_id, "subject": "=?utf-8?q?Hi=0D=0ABcc:_x@evil.test?="}), 400,
                 "header_injection")
    assert_error(human.post("approve_message", {"message_id": message_id, "subject": "x" * 999}), 400)
    assert_error(human.post("approve_message", {"message_id": message_id, "note": "x" * 5000}), 400)
    assert_error(human.post("approve_message", {"message_id": message_id, "to": "x@evil.test"}), 400, "unknown_field")
    assert_error(human.post("approve_message", {}), 400, "missing_field")
    assert_error(human.post("approve_message", {"message_id": "msg_unknown"}), 404, "message_not_found")
    assert snapshot(admin, box) == before
    assert admin.ok("GET", "read_email", message_id=message_id)["status"] == "pending"


def test_reject(server, admin, agent, approver, mailbox):
    box = mailbox()
    key = agent(box)
    message_id = _held(key, box)
    answer = approver(box).ok("POST", "reject_message", {"message_id": message_id, "reason": "off-brand"})
    assert answer["status"] == "rejected" and answer["decision_note"] == "off-brand"
    assert _statuses(server.base, key.key)[message_id] == "rejected"
    full = admin.ok("GET", "read_email", message_id=message_id)
    assert full["status"] == "rejected" and full["sent_at"] is None
    assert_error(admin.post("approve_message", {"message_id": message_id}), 409)
    assert_error(key.post("cancel_message", {"message_id": message_id}), 409)


def test_agent_may_never_approve_reject_or_edit(admin, agent, mailbox):
    box = mailbox()
    key = agent(box)
    message_id = _held(key, box)
    before = snapshot(admin, box)
    assert_error(key.post("approve_message", {"message_id": message_id}), 403, "insufficient_scope")
    assert_error(key.post("approve_message", {"message_id": message_id, "body": "edited by the agent"}), 403, "insufficient_scope")
    assert_error(key.post("reject_message", {"message_id": message_id}), 403, "insufficient_scope")
    assert snapshot(admin, box) == before
    assert admin.ok("GET", "read_email", message_id=message_id)["body"] == "Draft body."


def test_cancel_by_owner_and_poller_sees_cancelled(server, admin, agent, mailbox):
    box = mailbox()
    key = agent(box)
    message_id = _held(key, box)
    answer = key.ok("POST", "cancel_message", {"message_id": message_id, "reason": "changed my mind"})
    assert answer["status"] == "cancelled" and answer["decided_at"]
    assert _statuses(server.base, key.key)[message_id] == "cancelled"
    assert admin.ok("GET", "read_email", message_id=message_id)["status"] == "cancelled"
    assert_error(key.post("cancel_message", {"message_id": message_id}), 409)
    assert_error(admin.post("approve_message", {"message_id": message_id}), 409)


def test_cancel_by_another_agent_is_refused(admin, agent, approver, mailbox):
    box = mailbox()
    owner, other_agent = agent(box), agent(box)
    message_id = _held(owner, box)
    before = snapshot(admin, box)
    assert_error(other_agent.post("cancel_message", {"message_id": message_id}), 403, "not_message_owner")
    assert snapshot(admin, box) == before
    # An approver may withdraw it.
    assert approver(box).ok("POST", "cancel_message", {"message_id": message_id})["status"] == "cancelled"


def test_cancel_after_sent_is_409(admin, agent, mailbox):
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)
    sent = key.ok("POST", "send_email", {"from": box, "to": new_address(), "subject": "Gone", "body": "x"})
    wait_status(admin, sent["message_id"], "sent")
    before = snapshot(admin, box)
    assert_error(key.post("cancel_message", {"message_id": sent["message_id"]}), 409, "already_sent")
    assert snapshot(admin, box) == before
    assert admin.ok("GET", "read_email", message_id=sent["message_id"])["status"] == "sent"


def test_cancel_inbound_is_409(admin, mailbox, inbound):
    box = mailbox()
    msg = inbound(box)
    assert_error(admin.post("cancel_message", {"message_id": msg["message_id"]}), 409)


def test_approver_cannot_send(admin, approver, mailbox, inbound):
    box = mailbox(oversight_mode="autonomous")
    parent = inbound(box)
    human = approver(box)
    before = snapshot(admin, box)
    assert_error(human.post("send_email", {"from": box, "to": new_address(), "subject": "s", "body": "b"}), 403, "insufficient_scope")
    assert_error(human.post("reply_email", {"message_id": parent["message_id"], "body": "b"}), 403, "insufficient_scope")
    assert_error(human.post("decide_email", {"from": box, "to": new_address(), "question": "q", "options": ["a", "b"]}), 403, "insufficient_scope")
    assert snapshot(admin, box) == before


def test_approver_scoped_to_other_mailbox_sees_404(admin, approver, mailbox):
    box, other = mailbox(), mailbox()
    message_id = _held(admin, box)
    outsider = approver(other)
    for verb in ("approve_message", "reject_message", "cancel_message"):
        assert_error(outsider.post(verb, {"message_id": message_id}), 404, "message_not_found")
    assert admin.ok("GET", "read_email", message_id=message_id)["status"] == "pending"


def test_cancel_after_approval_is_409(admin, agent, approver, mailbox):
    """Approval and cancellation of the same message: exactly one wins. Once a human approved, the
    message goes out and the poller's "approved" stays true."""
    box = mailbox()
    key = agent(box)
    message_id = _held(key, box)
    approver(box).ok("POST", "approve_message", {"message_id": message_id})
    err = assert_error(key.post("cancel_message", {"message_id": message_id}), 409)
    assert err["code"] in ("invalid_state", "already_sent")
    assert wait_status(admin, message_id, "sent")["approval_status"] == "approved"
    assert {m["message_id"]: m["status"] for m in key.ok("GET", "list_pending")["messages"]}[message_id] == "approved"


def test_cancel_queued_message_before_delivery_or_409(admin, agent, mailbox):
    """A message that was never held can be withdrawn until a worker starts on it; after that, 409."""
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)
    sent = key.ok("POST", "send_email", {"from": box, "to": new_address(), "subject": "Quick", "body": "x"})
    r = key.post("cancel_message", {"message_id": sent["message_id"]})
    if r.status_code == 200:  # won the race against the delivery worker
        assert admin.ok("GET", "read_email", message_id=sent["message_id"])["status"] == "cancelled"
        assert sent["message_id"] not in {m["message_id"] for m in key.ok("GET", "list_pending")["messages"]}
    else:  # the worker had it already (sent, or being delivered right now)
        assert assert_error(r, 409)["code"] in ("already_sent", "invalid_state")
        wait_status(admin, sent["message_id"], "sent")
