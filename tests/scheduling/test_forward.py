"""forward_email: a stored message (received or sent) forwarded inline with its attachments, in a
new thread, under oversight as a send; and inbound message/rfc822 parts kept as attachments."""

from __future__ import annotations

import base64
import secrets
import smtplib
from email import message_from_bytes
from email.policy import default as default_policy

from multimail_server.client import MultiMail
from tests.api.helpers import assert_error, find_in_inbox, snapshot, wait_status

REMOTE = "ana@partner.test"
PDF = b"%PDF-1.4\n" + secrets.token_bytes(2048) + b"\n%%EOF\n"


def _parsed(raw: bytes):
    return message_from_bytes(raw, policy=default_policy)


def test_forward_received_mail_with_its_attachments(admin, agent, mailbox, outside, captured):
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)
    subject = f"Invoice {secrets.token_hex(3)}"
    admin.ok("POST", "send_email", {"from": outside(), "to": box, "subject": subject, "body": "Please pay by Friday.",
                                    "attachments": [{"filename": "invoice.pdf", "content_type": "application/pdf",
                                                     "content_base64": base64.b64encode(PDF).decode()}]})
    original = find_in_inbox(admin, box, subject)
    fwd = key.ok("POST", "forward_email", {"message_id": original["message_id"], "to": REMOTE, "note": "For the books."})
    assert fwd["thread_id"] != original["thread_id"]  # a new conversation
    wait_status(key, fwd["message_id"], "sent")
    [(_, rcpt, raw)] = captured(fwd["message_id"])
    assert rcpt == [REMOTE]
    mail = _parsed(raw)
    assert mail["Subject"] == f"Fwd: {subject}" and mail["In-Reply-To"] is None
    text = mail.get_body(("plain",)).get_content()
    assert text.index("For the books.") < text.index("---------- Forwarded message ---------") < text.index("Please pay by Friday.")
    assert f"Subject: {subject}" in text and "From: " in text
    [attached] = list(mail.iter_attachments())
    assert attached.get_filename() == "invoice.pdf" and attached.get_content_type() == "application/pdf"
    assert attached.get_content() == PDF  # byte for byte
    view = key.ok("GET", "read_email", message_id=fwd["message_id"])
    assert view["metadata"]["forwarded_message_id"] == original["message_id"]


def test_forward_is_held_like_a_send_and_bad_input_changes_nothing(admin, agent, approver, mailbox, inbound, make_key):
    box = mailbox(oversight_mode="gated_send")
    key = agent(box)
    original = inbound(box)
    fwd = key.ok("POST", "forward_email", {"message_id": original["message_id"], "to": [REMOTE]})
    assert (fwd["status"], fwd["approval_status"]) == ("pending", "pending")
    pending = [m for m in approver(box).ok("GET", "list_pending", mailbox=box)["messages"] if m["message_id"] == fwd["message_id"]]
    assert pending and pending[0]["subject"].startswith("Fwd: ")

    before = snapshot(admin, box)
    assert_error(key.post("forward_email", {"message_id": original["message_id"]}), 400)
    assert_error(key.post("forward_email", {"message_id": original["message_id"], "to": "not an address"}), 400)
    assert_error(key.post("forward_email", {"message_id": "msg_nope", "to": REMOTE}), 404)
    assert_error(key.post("forward_email", {"message_id": original["message_id"], "to": REMOTE, "oversight_mode": "autonomous"}), 403)
    other_box = mailbox(oversight_mode="autonomous")
    assert_error(make_key("agent", [other_box]).post("forward_email", {"message_id": original["message_id"], "to": REMOTE}), 404)
    assert snapshot(admin, box) == before


def test_forward_a_sent_message_through_the_sdk(server, agent, mailbox, captured):
    box = mailbox(oversight_mode="autonomous")
    key = agent(box)
    with MultiMail(base_url=server.base, api_key=key.key) as client:
        first = client.send_email(sender=box, to=REMOTE, subject="Minutes", body="We agreed.", html="<p>We <b>agreed</b>.</p>")
        wait_status(key, first.message_id, "sent")
        again = client.forward_email(first.message_id, to="bo@partner.test", note="FYI")
        assert again.status in ("queued", "sent")
    wait_status(key, again.message_id, "sent")
    [(_, rcpt, raw)] = captured(again.message_id)
    assert rcpt == ["bo@partner.test"]
    html = _parsed(raw).get_body(("html",)).get_content()
    assert "<b>agreed</b>" in html and "Forwarded message" in html and "FYI" in html


def test_inbound_forwarded_message_rfc822_part_is_kept(server, admin, mailbox):
    box = mailbox(oversight_mode="autonomous")
    inner_subject = f"Contract {secrets.token_hex(3)}/2026"
    inner = (f"From: Carla <carla@vendor.test>\r\nTo: bo@partner.test\r\nSubject: {inner_subject}\r\n"
             "Message-ID: <inner-1@vendor.test>\r\n\r\nThe signed contract is attached.\r\n")
    outer_subject = f"Fwd: {inner_subject}"
    raw = (f"From: Bo <bo@partner.test>\r\nTo: {box}\r\nSubject: {outer_subject}\r\n"
           f"Message-ID: <outer-{secrets.token_hex(4)}@partner.test>\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/mixed; boundary="OUTER"\r\n\r\n'
           "--OUTER\r\nContent-Type: text/plain\r\n\r\nSee the message below.\r\n"
           f"--OUTER\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--OUTER--\r\n").encode()
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as s:
        s.sendmail("bo@partner.test", [box], raw)
    received = find_in_inbox(admin, box, outer_subject)
    view = admin.ok("GET", "read_email", message_id=received["message_id"])
    assert view["body"].strip() == "See the message below."  # the inner message's text is not mixed in
    [att] = view["attachments"]
    assert att["content_type"] == "message/rfc822"
    assert att["filename"] == f"{inner_subject.replace('/', ' ')}.eml"
    r = admin.get("get_attachment", message_id=received["message_id"], attachment_id=att["attachment_id"])
    assert r.status_code == 200
    kept = _parsed(r.content)
    assert kept["Subject"] == inner_subject and "signed contract" in kept.get_content()
