"""create_mailbox, list_mailboxes, update_mailbox, delete_mailbox over HTTP."""

from .helpers import all_audit, assert_error, new_address, snapshot, wait_status


def test_create_mailbox_defaults_and_shape(admin):
    address = new_address()
    box = admin.ok("POST", "create_mailbox", {"address": address})
    assert box["mailbox_id"].startswith("mbx_")
    assert box["address"] == address
    assert box["oversight_mode"] == "gated_send"  # the API reference: default oversight gated_send
    assert box["min_oversight"] == "gated_send"
    assert box["idempotency_window_seconds"] == 900
    listed = {m["address"]: m for m in admin.ok("GET", "list_mailboxes")["mailboxes"]}
    assert listed[address] == box


def test_create_mailbox_with_fields(admin):
    address = new_address()
    box = admin.ok("POST", "create_mailbox", {"address": address, "oversight_mode": "gated_all", "min_oversight": "monitored",
                                              "display_name": "Report Bot"})
    assert (box["oversight_mode"], box["min_oversight"], box["display_name"]) == ("gated_all", "monitored", "Report Bot")


def test_create_mailbox_domain_is_lower_cased_and_duplicates_conflict(admin):
    local = new_address().split("@")[0]
    box = admin.ok("POST", "create_mailbox", {"address": f"{local}@ACME.Test"})
    assert box["address"] == f"{local}@acme.test"
    before = admin.ok("GET", "list_mailboxes")["mailboxes"]
    assert_error(admin.post("create_mailbox", {"address": f"{local}@acme.test"}), 409, "mailbox_exists")
    assert admin.ok("GET", "list_mailboxes")["mailboxes"] == before


def test_create_mailbox_idn_address(admin):
    address = f"bot-{new_address().split('@')[0][-8:]}@bücher.test"
    box = admin.ok("POST", "create_mailbox", {"address": address})
    assert box["address"] == address


def test_create_mailbox_refusals_change_nothing(admin):
    before = admin.ok("GET", "list_mailboxes")["mailboxes"]
    assert_error(admin.post("create_mailbox", {"address": "not an address"}), 400, "invalid_address")
    assert_error(admin.post("create_mailbox", {"address": "Bot <bot@acme.test>"}), 400, "invalid_address")
    assert_error(admin.post("create_mailbox", {"address": new_address(), "oversight_mode": "yolo"}), 400)
    # A default looser than its floor is semantically invalid.
    assert_error(admin.post("create_mailbox", {"address": new_address(), "oversight_mode": "autonomous", "min_oversight": "gated_all"}),
                 422, "oversight_below_floor")
    assert_error(admin.post("create_mailbox", {"address": new_address(), "display_name": "Evil\r\nBcc: x@evil.test"}), 400, "header_injection")
    assert_error(admin.post("create_mailbox", {"address": new_address(), "display_name": "Evil\u2028Bcc: x@evil.test"}), 400, "header_injection")
    assert_error(admin.post("create_mailbox", {"address": new_address(), "display_name": "=?utf-8?q?Evil=0D=0ABcc:_x@evil.test?="}), 400,
                 "header_injection")
    assert_error(admin.post("create_mailbox", {"address": new_address(), "idempotency_window_seconds": -1}), 400)
    assert_error(admin.post("create_mailbox", {"address": new_address(), "idempotency_window_seconds": True}), 400)
    assert_error(admin.post("create_mailbox", {"address": new_address(), "colour": "blue"}), 400, "unknown_field")
    assert_error(admin.post("create_mailbox", {}), 400, "missing_field")
    assert admin.ok("GET", "list_mailboxes")["mailboxes"] == before


def test_update_mailbox(admin, mailbox):
    address = mailbox()
    box_id = next(m["mailbox_id"] for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == address)
    updated = admin.ok("POST", "update_mailbox", {"mailbox": address, "min_oversight": "autonomous", "oversight_mode": "monitored",
                                                  "display_name": "Ops", "idempotency_window_seconds": 0})
    assert (updated["oversight_mode"], updated["min_oversight"], updated["display_name"], updated["idempotency_window_seconds"]) == (
        "monitored", "autonomous", "Ops", 0)
    # By id too, and only the named fields change.
    again = admin.ok("POST", "update_mailbox", {"mailbox_id": box_id, "oversight_mode": "gated_all"})
    assert (again["oversight_mode"], again["min_oversight"], again["display_name"]) == ("gated_all", "autonomous", "Ops")
    listed = {m["address"]: m for m in admin.ok("GET", "list_mailboxes")["mailboxes"]}
    assert listed[address]["oversight_mode"] == "gated_all"
    events = [e for e in all_audit(admin, mailbox=address) if e["action"] == "mailbox.updated"]
    assert len(events) == 2


def test_update_mailbox_refusals_change_nothing(admin, mailbox):
    address = mailbox(oversight_mode="gated_send")
    before = snapshot(admin, address)
    listed = lambda: next(m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == address)
    original = listed()
    # Looser than the floor without lowering the floor: 422.
    assert_error(admin.post("update_mailbox", {"mailbox": address, "oversight_mode": "autonomous"}), 422, "oversight_below_floor")
    assert_error(admin.post("update_mailbox", {"mailbox": address, "oversight_mode": "nope"}), 400)
    assert_error(admin.post("update_mailbox", {"oversight_mode": "gated_all"}), 400, "missing_field")
    assert_error(admin.post("update_mailbox", {"mailbox": new_address(), "oversight_mode": "gated_all"}), 404, "mailbox_not_found")
    assert_error(admin.post("update_mailbox", {"mailbox": address, "display_name": "a\nb"}), 400, "header_injection")
    assert listed() == original
    assert snapshot(admin, address) == before


def test_delete_mailbox_keeps_audit_trail(admin, mailbox, outside):
    address = mailbox(oversight_mode="autonomous")
    sent = admin.ok("POST", "send_email", {"from": address, "to": outside(), "subject": "Before deletion", "body": "x"})
    wait_status(admin, sent["message_id"], "sent")
    history = all_audit(admin, mailbox=address)
    assert {"mailbox.created", "message.send", "message.sent"} <= {e["action"] for e in history}

    gone = admin.ok("POST", "delete_mailbox", {"mailbox": address})
    assert gone["deleted"] is True and gone["address"] == address
    assert address not in [m["address"] for m in admin.ok("GET", "list_mailboxes")["mailboxes"]]
    assert_error(admin.get("read_email", message_id=sent["message_id"]), 404, "message_not_found")
    assert_error(admin.get("check_inbox", mailbox=address), 404, "mailbox_not_found")
    assert_error(admin.post("delete_mailbox", {"mailbox": address}), 404, "mailbox_not_found")

    # The trail survives: every earlier event is still there, plus the deletion, and it can be
    # found by the deleted mailbox's address and by the message id.
    after = all_audit(admin, mailbox=address)
    assert {e["event_id"] for e in history} <= {e["event_id"] for e in after}
    assert "mailbox.deleted" in {e["action"] for e in after}
    by_message = all_audit(admin, message_id=sent["message_id"])
    assert {"message.send", "message.sent"} <= {e["action"] for e in by_message}


def test_delete_mailbox_by_id(admin, mailbox):
    address = mailbox()
    box_id = next(m["mailbox_id"] for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == address)
    assert admin.ok("POST", "delete_mailbox", {"mailbox_id": box_id})["mailbox_id"] == box_id
    assert address not in [m["address"] for m in admin.ok("GET", "list_mailboxes")["mailboxes"]]
    # The address is free again.
    assert admin.ok("POST", "create_mailbox", {"address": address})["mailbox_id"] != box_id


def test_only_admins_manage_mailboxes(admin, mailbox, agent, approver):
    address = mailbox()
    for key in (agent(address), approver(address)):
        before = admin.ok("GET", "list_mailboxes")["mailboxes"]
        assert_error(key.post("create_mailbox", {"address": new_address()}), 403, "insufficient_scope")
        assert_error(key.post("update_mailbox", {"mailbox": address, "oversight_mode": "autonomous", "min_oversight": "autonomous"}),
                     403, "insufficient_scope")
        assert_error(key.post("delete_mailbox", {"mailbox": address}), 403, "insufficient_scope")
        assert admin.ok("GET", "list_mailboxes")["mailboxes"] == before
        # They may list what they act for.
        assert [m["address"] for m in key.ok("GET", "list_mailboxes")["mailboxes"]] == [address]
