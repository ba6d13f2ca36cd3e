"""The README's tour, over real HTTP: create a mailbox, send a gated message, approve it, read it."""

import time


def test_tour(admin, mailbox):
    sender = mailbox(oversight_mode="gated_send")
    boss = mailbox(oversight_mode="autonomous")
    sent = admin.ok("POST", "send_email", {"from": sender, "to": boss, "subject": "Weekly report", "body": "All green."})
    assert sent["status"] == "pending" and sent["oversight_mode"] == "gated_send"
    pending = {m["message_id"]: m["status"] for m in admin.ok("GET", "list_pending")["messages"]}
    assert pending[sent["message_id"]] == "pending"
    admin.ok("POST", "approve_message", {"message_id": sent["message_id"]})
    deadline = time.monotonic() + 10
    while admin.ok("GET", "read_email", message_id=sent["message_id"])["status"] != "sent":
        assert time.monotonic() < deadline, "approved message was not delivered"
        time.sleep(0.1)
    inbox = admin.ok("GET", "check_inbox", mailbox=boss)["messages"]
    assert [m["subject"] for m in inbox] == ["Weekly report"]
    statuses = {m["message_id"]: m["status"] for m in admin.ok("GET", "list_pending")["messages"]}
    assert statuses[sent["message_id"]] == "approved"
