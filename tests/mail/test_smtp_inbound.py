"""Inbound SMTP over loopback into the real server: accepted only for hosted mailboxes, stored
before 250, threaded onto the mailbox's own mail, decisions read from replies."""

import smtplib
from email.message import EmailMessage

import pytest

from ..conftest import wait_for


def smtp_send(server, msg: EmailMessage, rcpt: list[str] | None = None) -> dict:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        return s.send_message(msg, to_addrs=rcpt)


def test_mail_for_a_hosted_mailbox_is_stored(server, admin, mailbox):
    box = mailbox()
    msg = EmailMessage()
    msg["From"] = "Ana Analyst <ana@partner.test>"
    msg["To"] = box
    msg["Subject"] = "Grüße aus Köln"
    msg["Message-ID"] = "<inbound-1@partner.test>"
    msg.set_content("Hallo, anbei die Zahlen.")
    msg.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="zahlen.csv")
    assert smtp_send(server, msg) == {}
    # 250 came after the commit, so the message is visible at once.
    inbox = admin.ok("GET", "check_inbox", mailbox=box)["messages"]
    assert [(m["from"], m["subject"], m["read"]) for m in inbox] == [("Ana Analyst <ana@partner.test>", "Grüße aus Köln", False)]
    full = admin.ok("GET", "read_email", message_id=inbox[0]["message_id"])
    assert full["direction"] == "inbound" and full["body"].strip() == "Hallo, anbei die Zahlen."
    assert full["internet_message_id"] == "<inbound-1@partner.test>"
    [att] = full["attachments"]
    assert att["filename"] == "zahlen.csv" and att["size"] == 8
    # The same message delivered again (a sender's retry) is stored once.
    smtp_send(server, msg)
    assert len(admin.ok("GET", "check_inbox", mailbox=box)["messages"]) == 1


def test_unknown_recipient_is_refused_at_rcpt(server, mailbox):
    msg = EmailMessage()
    msg["From"] = "ana@partner.test"
    msg["To"] = "nobody@acme.test"
    msg["Subject"] = "hi"
    msg.set_content("x")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        smtp_send(server, msg)
    code, _ = info.value.recipients["nobody@acme.test"]
    assert code == 550


def test_reply_to_decide_email_is_threaded_and_decides(server, admin, mailbox):
    box = mailbox(oversight_mode="autonomous")
    asked = admin.ok("POST", "decide_email", {"from": box, "to": "Boss <boss@partner.test>", "question": "Ship the release today?",
                                              "options": ["Ship it", "Wait"]})
    question = wait_for(lambda: (m := admin.ok("GET", "read_email", message_id=asked["message_id"]))["status"] == "sent" and m, timeout=10.0)
    reply = EmailMessage()
    reply["From"] = "Boss <boss@partner.test>"
    reply["To"] = box
    reply["Subject"] = "Re: " + question["subject"]
    reply["In-Reply-To"] = question["internet_message_id"]
    reply["References"] = question["internet_message_id"]
    reply.set_content("wait\n\nOn Thu, the agent wrote:\n> Ship the release today?\n> 1. Ship it\n> 2. Wait\n")
    smtp_send(server, reply)
    thread = admin.ok("GET", "get_thread", thread_id=asked["thread_id"])
    assert [m["direction"] for m in thread["messages"]] == ["outbound", "inbound"]
    answer = thread["messages"][1]
    assert answer["is_reply"] is True and answer["decision"] == "Wait"
    assert thread["decision"] == "Wait"


def test_reply_from_someone_not_asked_never_decides(server, admin, mailbox):
    box = mailbox(oversight_mode="autonomous")
    asked = admin.ok("POST", "decide_email", {"from": box, "to": "boss@partner.test", "question": "Refund the customer?",
                                              "options": ["Yes", "No"]})
    question = wait_for(lambda: (m := admin.ok("GET", "read_email", message_id=asked["message_id"]))["status"] == "sent" and m, timeout=10.0)
    reply = EmailMessage()
    reply["From"] = "intruder@elsewhere.test"
    reply["To"] = box
    reply["Subject"] = "Re: Refund"
    reply["In-Reply-To"] = question["internet_message_id"]
    reply.set_content("Yes")
    smtp_send(server, reply)
    thread = admin.ok("GET", "get_thread", thread_id=asked["thread_id"])
    assert thread["messages"][-1]["decision"] is None and thread["decision"] is None
