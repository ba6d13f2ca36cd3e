"""Who a reply may reach without approval under gated_send (trust issue, finding 4).

Only the human counterpart of the conversation counts as "already in it": the authenticated
sender (DMARC pass, or local delivery from a hosted mailbox) of the thread's inbound mail, by its
From, and the recipients of outbound mail a human approved. Anyone can mail the mailbox over SMTP
with strangers in Cc or a Reply-To of their choosing; a reply that reaches any of them is a new
conversation, held. Attacks over real SMTP (smtplib to the session server, whose DNS answers make
partner.test pass SPF and DMARC from loopback) and real HTTP.
"""

from __future__ import annotations

import secrets
import smtplib
from email.message import EmailMessage

from .helpers import all_audit, find_in_inbox, new_address, wait_status


def smtp_in(server, *, to: str, sender: str, envelope_from: str | None = None, cc: list[str] = (),
            reply_to: str | None = None) -> str:
    """Mail `to` over SMTP; returns the subject to find it by. `sender` at partner.test with the
    same envelope passes DMARC (the session DNS); any other domain does not."""
    subject = f"Hello {secrets.token_hex(4)}"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    if cc:
        msg["Cc"] = ", ".join(cc)
    if reply_to:
        msg["Reply-To"] = reply_to
    msg.set_content("Please reply to everyone.")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.send_message(msg, from_addr=envelope_from or sender)
    return subject


def received(server, admin, box, **fields) -> dict:
    subject = smtp_in(server, to=box, **fields)
    msg = find_in_inbox(admin, box, subject)
    return admin.ok("GET", "read_email", message_id=msg["message_id"])


def pending_item(api, box, message_id) -> dict:
    return next(m for m in api.ok("GET", "list_pending", mailbox=box)["messages"] if m["message_id"] == message_id)


def creation_event(api, message_id) -> dict:
    return next(e for e in all_audit(api, message_id=message_id) if e["action"] == "message.reply")


def test_reply_all_to_fifty_cc_from_smtp_is_held(server, admin, agent, mailbox):
    """The attack as reported: mail the agent with 50 strangers in Cc, then reply_all. Even with
    an authenticated sender, the Cc list is whatever the sender typed: the reply is held."""
    box = mailbox(oversight_mode="gated_send")
    strangers = [f"victim{i}-{secrets.token_hex(2)}@elsewhere.test" for i in range(50)]
    parent = received(server, admin, box, sender="boss@partner.test", cc=strangers)
    assert parent["authentication"]["verified_sender"] is True
    key = agent(box)
    reply = key.ok("POST", "reply_email", {"message_id": parent["message_id"], "body": "Sure!", "reply_all": True})
    assert reply["status"] == "pending" and reply["approval_status"] == "pending"
    # Why, in the audit trail and on the approver's screen: every Cc'd stranger, by name.
    details = creation_event(admin, reply["message_id"])["details"]
    assert details["reply_treated_as"] == "send" and details["new_conversation"]["reason"] == "new_recipients"
    named = {r["address"]: r["why"] for r in details["new_conversation"]["recipients"]}
    assert named == {a: "copied_on_the_message" for a in strangers}
    item = pending_item(admin, box, reply["message_id"])
    assert item["held_because"]["code"] == "gated_send_new_recipients"
    assert {r["address"] for r in item["held_because"]["recipients"]} == set(strangers)
    assert "boss@partner.test" not in {r["address"] for r in item["held_because"]["recipients"]}


def test_agent_added_cc_or_bcc_is_held_even_if_copied_on_the_parent(server, admin, agent, mailbox):
    box = mailbox(oversight_mode="gated_send")
    copied = f"copied-{secrets.token_hex(2)}@elsewhere.test"
    parent = received(server, admin, box, sender="boss@partner.test", cc=[copied])
    key = agent(box)
    for extra, why in (({"cc": copied}, "copied_on_the_message"), ({"bcc": copied}, "copied_on_the_message"),
                       ({"bcc": new_address("agent-pick")}, "added_by_agent")):
        reply = key.ok("POST", "reply_email", {"message_id": parent["message_id"], "body": f"fyi {extra}", **extra})
        assert reply["status"] == "pending", extra
        [stranger] = creation_event(admin, reply["message_id"])["details"]["new_conversation"]["recipients"]
        assert stranger["why"] == why


def test_reply_to_an_unauthenticated_sender_is_held(server, admin, agent, mailbox):
    """A From header anyone can write (no SPF, no DMARC for its domain) names nobody a human
    has talked to: replying to it starts a conversation."""
    box = mailbox(oversight_mode="gated_send")
    parent = received(server, admin, box, sender="ceo@elsewhere.test")
    assert parent["authentication"]["verified_sender"] is False
    reply = agent(box).ok("POST", "reply_email", {"message_id": parent["message_id"], "body": "On it."})
    assert reply["status"] == "pending"
    item = pending_item(admin, box, reply["message_id"])
    assert item["held_because"]["recipients"] == [{"address": "ceo@elsewhere.test", "why": "unverified_sender"}]


def test_reply_to_header_of_an_authenticated_sender_is_held(server, admin, agent, mailbox):
    """Authentication covers the From, not the Reply-To the sender chose."""
    box = mailbox(oversight_mode="gated_send")
    parent = received(server, admin, box, sender="boss@partner.test", reply_to="drop@elsewhere.test")
    reply = agent(box).ok("POST", "reply_email", {"message_id": parent["message_id"], "body": "Done."})
    assert reply["status"] == "pending"
    assert pending_item(admin, box, reply["message_id"])["held_because"]["recipients"] == [
        {"address": "drop@elsewhere.test", "why": "reply_to_address"}]


def test_genuine_reply_to_a_dmarc_authenticated_sender_goes_out(server, admin, agent, mailbox):
    box = mailbox(oversight_mode="gated_send")
    parent = received(server, admin, box, sender="Boss <boss@partner.test>")
    assert parent["authentication"]["verified_sender"] is True and parent["authentication"]["dmarc"]["result"] == "pass"
    reply = agent(box).ok("POST", "reply_email", {"message_id": parent["message_id"], "body": "Thanks, will do."})
    assert reply["status"] == "queued" and reply["approval_status"] is None
    out = wait_status(admin, reply["message_id"], "sent")
    assert out["to"] == ["Boss <boss@partner.test>"]
    assert "new_conversation" not in creation_event(admin, reply["message_id"])["details"]


def test_follow_up_to_an_autonomous_send_is_held_until_a_human_approves_someone(admin, agent, mailbox):
    """Recipients of a send no human approved (autonomous or monitored) are not "in the
    conversation"; recipients a human approved are."""
    box = mailbox(oversight_mode="gated_send", min_oversight="autonomous")
    key = agent(box)
    target = new_address("prospect")
    first = key.ok("POST", "send_email", {"from": box, "to": target, "subject": "Hi", "body": "x", "oversight_mode": "autonomous"})
    wait_status(admin, first["message_id"], "sent")
    follow = key.ok("POST", "reply_email", {"message_id": first["message_id"], "body": "Following up"})
    assert follow["status"] == "pending"
    assert pending_item(admin, box, follow["message_id"])["held_because"]["recipients"] == [
        {"address": target, "why": "never_approved_in_thread"}]
    admin.ok("POST", "approve_message", {"message_id": follow["message_id"]})
    wait_status(admin, follow["message_id"], "sent")
    # A human approved mail to `target` in this thread: a further follow-up is a reply.
    again = key.ok("POST", "reply_email", {"message_id": follow["message_id"], "body": "One more thing"})
    assert again["status"] == "queued"
