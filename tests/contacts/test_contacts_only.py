"""The mailbox setting contacts_only: mail that would go out on its own (autonomous, monitored, a
reply under gated_send) to anyone who is not an approved contact is held for a human, with the
unknown addresses named in held_because; approved contacts in any spelling go; an agent cannot
add its way out of it, switch it off or override it per call."""

from __future__ import annotations

import secrets

from tests.api.helpers import assert_error, wait_status
from tests.hosted.conftest import Hosted


def _held_because(api, box: str, message_id: str) -> dict:
    pending = api.ok("GET", "list_pending", mailbox=box)["messages"]
    return next(m for m in pending if m["message_id"] == message_id)["held_because"]


def _send(api, box: str, to, **extra) -> dict:
    # a subject of its own: the same content again within the mailbox's window answers the first message
    return api.ok("POST", "send_email", {"from": box, "to": to, "subject": f"Hello {secrets.token_hex(4)}", "body": "Hi.", **extra})


def test_unknown_recipients_are_held_and_named_and_contacts_go(admin, mailbox, agent, approver):
    box = mailbox(oversight_mode="autonomous", contacts_only=True)
    assert next(m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == box)["contacts_only"] is True
    a, o = agent(box), approver(box)
    o.ok("POST", "add_contact", {"mailbox": box, "email": "ana@bücher.test"})
    went = _send(a, box, "Ana <ANA@xn--bcher-kva.test>")  # the approved contact, spelt another way
    assert went["status"] == "queued"
    wait_status(admin, went["message_id"])
    held = _send(a, box, ["ana@bücher.test"], cc="zed@partner.test", bcc=["yan@partner.test"])
    assert held["status"] == "pending"
    why = _held_because(o, box, held["message_id"])
    assert why["code"] == "contacts_only_unknown_recipients" and why["mode"] == "autonomous"
    assert [r["address"] for r in why["recipients"]] == ["zed@partner.test", "yan@partner.test"]
    assert "zed@partner.test" in why["message"] and "ana@" not in why["message"]
    # held, not refused: a human approves it and it goes
    o.ok("POST", "approve_message", {"message_id": held["message_id"]})
    wait_status(admin, held["message_id"])


def test_an_agents_own_contact_does_not_count(admin, mailbox, agent, approver):
    box = mailbox(oversight_mode="autonomous", contacts_only=True)
    a = agent(box)
    a.ok("POST", "add_contact", {"mailbox": box, "email": "bea@partner.test"})
    assert _send(a, box, "bea@partner.test")["status"] == "pending"
    approver(box).ok("POST", "add_contact", {"mailbox": box, "email": "bea@partner.test"})  # a human approves it
    assert _send(a, box, "bea@partner.test")["status"] == "queued"


def test_lookalike_addresses_of_a_contact_are_held(mailbox, agent, approver):
    box = mailbox(oversight_mode="autonomous", contacts_only=True)
    o, a = approver(box), agent(box)
    o.ok("POST", "add_contact", {"mailbox": box, "email": "straße@partner.test"})
    o.ok("POST", "add_contact", {"mailbox": box, "email": "bob@partner.test"})
    for lookalike in ["strasse@partner.test", "bob+x@partner.test", "bob@partner.test.evil.test", "\uff42ob@partner.test"]:
        assert _send(a, box, lookalike)["status"] == "pending", lookalike
    assert _send(a, box, ["STRAßE@partner.test", "BOB@Partner.Test"])["status"] == "queued"


def test_monitored_and_gated_send_replies_are_held_too(admin, mailbox, agent, approver, inbound, outside):
    monitored = mailbox(oversight_mode="monitored", contacts_only=True)
    assert _send(agent(monitored), monitored, "cal@partner.test")["status"] == "pending"
    gated = mailbox(oversight_mode="gated_send", contacts_only=True)
    parent = inbound(gated)
    a = agent(gated)
    # a reply to the authenticated sender is a reply (gated_send lets it go) but the sender is no contact
    held = a.ok("POST", "reply_email", {"message_id": parent["message_id"], "body": "Thanks."})
    assert held["status"] == "pending"
    assert _held_because(admin, gated, held["message_id"])["code"] == "contacts_only_unknown_recipients"
    approver(gated).ok("POST", "add_contact", {"mailbox": gated, "email": outside()})
    assert a.ok("POST", "reply_email", {"message_id": parent["message_id"], "body": "Thanks again."})["status"] == "queued"
    # a new conversation under gated_send is held as always, with its usual reason
    new = _send(a, gated, outside())
    assert new["status"] == "pending"
    assert _held_because(admin, gated, new["message_id"])["code"] == "gated_send_new_conversation"


def test_a_per_call_mode_cannot_get_round_it(admin, mailbox, agent):
    box = mailbox(oversight_mode="monitored", min_oversight="autonomous", contacts_only=True)
    a = agent(box)
    assert _send(a, box, "dot@partner.test", oversight_mode="autonomous")["status"] == "pending"
    decided = a.ok("POST", "decide_email", {"from": box, "to": "dot@partner.test", "question": "Yes?",
                                            "options": ["yes", "no"], "oversight_mode": "autonomous"})
    assert decided["status"] == "pending"


def test_only_an_admin_switches_it_and_every_dialect_shows_it(admin, mailbox, agent, approver, server):
    box = mailbox(oversight_mode="autonomous")
    a = agent(box)
    assert _send(a, box, "eli@partner.test")["status"] == "queued"
    for key in (a, approver(box)):
        assert_error(key.post("update_mailbox", {"mailbox": box, "contacts_only": True}), 403, "insufficient_scope")
    assert_error(admin.post("update_mailbox", {"mailbox": box, "contacts_only": "yes"}), 400)
    assert admin.ok("POST", "update_mailbox", {"mailbox": box, "contacts_only": True})["contacts_only"] is True
    assert _send(a, box, "eli@partner.test")["status"] == "pending"
    h = Hosted(server.base, server.admin_key)
    assert h.ok("GET", f"/v1/mailboxes/{box}")["contacts_only"] == 1
    assert_error(Hosted(server.base, a.key).call("PATCH", f"/v1/mailboxes/{box}", {"contacts_only": False}), 403)
    assert h.ok("PATCH", f"/v1/mailboxes/{box}", {"contacts_only": False})["status"] == "updated"
    assert h.ok("GET", f"/v1/mailboxes/{box}")["contacts_only"] == 0
    assert _send(a, box, "eli@partner.test")["status"] == "queued"
    made = h.ok("POST", "/v1/mailboxes", {"address_local": f"co-{box}", "contacts_only": True}, expect=201)
    assert made["contacts_only"] == 1
    changes = [e for e in admin.ok("GET", "audit_log", mailbox=box, limit=100)["events"] if e["action"] == "mailbox.updated"]
    assert any(e["details"]["after"].get("contacts_only") is True for e in changes)
