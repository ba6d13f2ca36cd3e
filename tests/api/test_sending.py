"""send_email, reply_email, decide_email over HTTP, with local delivery between hosted mailboxes."""

import base64
import secrets
import smtplib
from email.message import EmailMessage

import pytest

from .helpers import all_audit, assert_error, find_in_inbox, new_address, snapshot, wait_status


def test_send_to_string_is_delivered_locally(admin, mailbox):
    sender = mailbox(oversight_mode="autonomous", display_name="Report Bot")
    recipient = mailbox()
    sent = admin.ok("POST", "send_email", {"from": sender, "to": recipient, "subject": "Weekly", "body": "All green."})
    assert sent["message_id"].startswith("msg_") and sent["thread_id"].startswith("thr_")
    assert sent["status"] == "queued" and sent["oversight_mode"] == "autonomous" and sent["duplicate"] is False
    out = wait_status(admin, sent["message_id"], "sent")
    assert out["direction"] == "outbound" and out["sent_at"]
    assert out["from"] == f"Report Bot <{sender}>"
    got = find_in_inbox(admin, recipient, "Weekly")
    assert got["from"] == f"Report Bot <{sender}>"
    assert got["to"] == [recipient]
    assert got["read"] is False
    full = admin.ok("GET", "read_email", message_id=got["message_id"])
    assert full["direction"] == "inbound" and full["status"] == "received"
    assert full["body"].strip() == "All green."
    assert full["internet_message_id"] == out["internet_message_id"]
    assert full["authentication"]["verified_sender"] is True


def test_send_to_list_with_cc_bcc_and_html(admin, mailbox):
    sender = mailbox(oversight_mode="autonomous")
    to1, to2, cc, bcc = mailbox(), mailbox(), mailbox(), mailbox()
    sent = admin.ok("POST", "send_email", {
        "from": sender, "to": [f"First One <{to1}>", to2], "cc": cc, "bcc": [bcc], "reply_to": "replies@acme.test",
        "subject": "Both parts", "body": "Plain words.", "html": "<p>Rich <b>words</b>.</p>", "metadata": {"run": 7},
    })
    out = wait_status(admin, sent["message_id"], "sent")
    assert out["to"] == [f"First One <{to1}>", to2] and out["cc"] == [cc] and out["bcc"] == [bcc]
    assert out["html"] == "<p>Rich <b>words</b>.</p>" and out["metadata"] == {"run": 7}
    for box in (to1, to2, cc, bcc):
        got = find_in_inbox(admin, box, "Both parts")
        full = admin.ok("GET", "read_email", message_id=got["message_id"])
        assert full["body"].strip() == "Plain words."
        assert "<b>words</b>" in full["html"]
        assert full["cc"] == [cc]
        assert full["reply_to"] == ["replies@acme.test"]
        # Bcc never shows in what recipients get.
        assert bcc not in str(full["to"] + full["cc"]) and "bcc" not in full


def test_attachments_round_trip(admin, mailbox):
    sender = mailbox(oversight_mode="autonomous")
    recipient = mailbox()
    blobs = {"report.pdf": ("application/pdf", secrets.token_bytes(50_000)),
             "notes ü.txt": ("text/plain", "naïve café\n".encode())}
    sent = admin.ok("POST", "send_email", {
        "from": sender, "to": recipient, "subject": "With files", "body": "See attached.",
        "attachments": [{"filename": n, "content_type": ct, "content_base64": base64.b64encode(b).decode()} for n, (ct, b) in blobs.items()],
    })
    wait_status(admin, sent["message_id"], "sent")
    for message_id in (sent["message_id"], find_in_inbox(admin, recipient, "With files")["message_id"]):
        full = admin.ok("GET", "read_email", message_id=message_id)
        assert sorted(a["filename"] for a in full["attachments"]) == sorted(blobs)
        for att in full["attachments"]:
            content_type, content = blobs[att["filename"]]
            assert att["content_type"] == content_type and att["size"] == len(content)
            assert att["attachment_id"] and att["url"].endswith(f"attachment_id={att['attachment_id']}")
            r = admin.session.get(f"{admin.base}/v1/get_attachment", params={"message_id": message_id, "attachment_id": att["attachment_id"]},
                                  headers=admin.headers(), timeout=30)
            assert r.status_code == 200
            assert r.content == content
            assert r.headers["content-type"].startswith(content_type)
            assert r.headers["content-disposition"].startswith("attachment;")
            assert r.headers["x-content-type-options"] == "nosniff"
        # The download URL from read_email works as given.
        r = admin.session.get(full["attachments"][0]["url"], headers=admin.headers(), timeout=30)
        assert r.status_code == 200 and r.content == blobs[full["attachments"][0]["filename"]][1]
    # An attachment id of another message is not this message's.
    first = admin.ok("GET", "read_email", message_id=sent["message_id"])["attachments"][0]["attachment_id"]
    other = admin.ok("POST", "send_email", {"from": sender, "to": recipient, "subject": "No files", "body": "x"})["message_id"]
    assert_error(admin.get("get_attachment", message_id=other, attachment_id=first), 404)
    assert_error(admin.get("get_attachment", message_id=sent["message_id"], attachment_id="att_nope"), 404)


def test_reply_threads_correctly(admin, mailbox, inbound, outside):
    box = mailbox(oversight_mode="gated_send")
    original = inbound(box, subject="Question about invoices", body="Can you send them?")
    parent = admin.ok("GET", "read_email", message_id=original["message_id"])
    reply = admin.ok("POST", "reply_email", {"message_id": original["message_id"], "body": "Here they are."})
    # gated_send: a reply in an existing thread goes out.
    assert reply["status"] == "queued" and reply["oversight_mode"] == "gated_send"
    assert reply["thread_id"] == original["thread_id"]
    out = wait_status(admin, reply["message_id"], "sent")
    assert out["subject"] == "Re: Question about invoices"
    assert out["in_reply_to"] == parent["internet_message_id"]
    assert out["references"] == [parent["internet_message_id"]]
    assert out["to"] == [f"Ana Analyst <{outside()}>"]
    assert out["is_reply"] is True

    # The correspondent sees it threaded with its own original, and "Re:" never stacks.
    theirs = find_in_inbox(admin, outside(), "Re: Question about invoices")
    thread = admin.ok("GET", "get_thread", thread_id=theirs["thread_id"])
    assert [m["subject"] for m in thread["messages"]] == ["Question about invoices", "Re: Question about invoices"]
    second = admin.ok("POST", "reply_email", {"message_id": theirs["message_id"], "body": "Thanks!"})
    out2 = wait_status(admin, second["message_id"], "sent")
    assert out2["subject"] == "Re: Question about invoices"
    assert out2["references"] == [parent["internet_message_id"], out["internet_message_id"]]
    back = find_in_inbox(admin, box, "Re: Question about invoices")
    assert back["thread_id"] == original["thread_id"]
    thread = admin.ok("GET", "get_thread", thread_id=original["thread_id"])
    assert [m["direction"] for m in thread["messages"]] == ["inbound", "outbound", "inbound"]


def test_reply_all(admin, mailbox, outside):
    box, colleague, other = mailbox(oversight_mode="autonomous"), mailbox(), mailbox()
    sent = admin.ok("POST", "send_email", {"from": outside(), "to": [box, colleague], "cc": other, "subject": "Team sync", "body": "x"})
    wait_status(admin, sent["message_id"])
    original = find_in_inbox(admin, box, "Team sync")
    plain = wait_status(admin, admin.ok("POST", "reply_email", {"message_id": original["message_id"], "body": "Only to you."})["message_id"])
    assert plain["to"] == [f"Ana Analyst <{outside()}>"] and plain["cc"] == []
    everyone = wait_status(admin, admin.ok("POST", "reply_email", {"message_id": original["message_id"], "body": "To all.", "reply_all": True})["message_id"])
    assert everyone["to"] == [f"Ana Analyst <{outside()}>"]
    assert sorted(everyone["cc"]) == sorted([colleague, other])  # never our own address
    assert box not in everyone["to"] + everyone["cc"]


def test_reply_to_header_is_honoured(admin, mailbox, inbound):
    box = mailbox(oversight_mode="autonomous")
    replies = mailbox()
    original = inbound(box, subject="Use reply-to", reply_to=replies)
    out = wait_status(admin, admin.ok("POST", "reply_email", {"message_id": original["message_id"], "body": "ok"})["message_id"])
    assert out["to"] == [replies]
    find_in_inbox(admin, replies, "Re: Use reply-to")


def test_reply_refusals(admin, mailbox, inbound):
    box = mailbox(oversight_mode="autonomous")
    original = inbound(box)
    before = snapshot(admin, box)
    assert_error(admin.post("reply_email", {"message_id": "msg_doesnotexist", "body": "x"}), 404, "message_not_found")
    assert_error(admin.post("reply_email", {"message_id": original["message_id"]}), 400, "missing_field")
    assert_error(admin.post("reply_email", {"message_id": original["message_id"], "body": "x", "cc": "a\r\nb@x.test"}), 400, "header_injection")
    assert_error(admin.post("reply_email", {"message_id": original["message_id"], "body": "x", "reply_all": "perhaps"}), 400)
    assert snapshot(admin, box) == before


def test_decide_email_and_answer_by_reply(admin, mailbox):
    bot = mailbox(oversight_mode="autonomous")
    human = mailbox(oversight_mode="autonomous")
    asked = admin.ok("POST", "decide_email", {"from": bot, "to": human, "question": "Ship release 2.1?\nIt passed QA.",
                                              "options": ["Ship it", "Hold"], "context": "Release train"})
    assert set(asked) >= {"thread_id", "message_id", "status"}
    out = wait_status(admin, asked["message_id"])
    assert out["subject"] == "Ship release 2.1?"  # default subject: the question's first line
    assert out["options"] == ["Ship it", "Hold"]
    assert "Ship release 2.1?" in out["body"] and "1. Ship it" in out["body"] and "Release train" in out["body"]

    question = find_in_inbox(admin, human, "Ship release 2.1?")
    answer = admin.ok("POST", "reply_email", {"message_id": question["message_id"], "body": "hold\n\n> Ship release 2.1?\n> 1. Ship it"})
    wait_status(admin, answer["message_id"])
    back = find_in_inbox(admin, bot, "Re: Ship release 2.1?")
    assert back["thread_id"] == asked["thread_id"]
    thread = admin.ok("GET", "get_thread", thread_id=asked["thread_id"])
    assert [m["is_reply"] for m in thread["messages"]] == [False, True]
    # A reply written through the API by a hosted mailbox is an agent's, never a human's answer
    # (core/decision_proof.py); tests/mail/test_decision_trust.py covers answers over SMTP.
    assert thread["messages"][1]["decision"] is None and thread["decision"] is None
    assert thread["messages"][1]["decision_check"]["reason"] == "agent_mailbox"
    assert not any(e["action"] == "decision.received" for e in all_audit(admin, mailbox=bot))
    assert any(e["action"] == "decision.unverified" for e in all_audit(admin, mailbox=bot))


def test_decide_email_answer_by_number(server, admin, mailbox):
    bot = mailbox(oversight_mode="autonomous")
    asked = admin.ok("POST", "decide_email", {"from": bot, "to": "boss@partner.test", "question": "Which plan?",
                                              "options": ["Basic", "Pro", "Max"], "subject": "Plan choice"})
    question = wait_status(admin, asked["message_id"])
    assert question["subject"] == "Plan choice"
    # The person asked answers from a mail client (partner.test passes DMARC here): "2" is Pro.
    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = "boss@partner.test", bot, "Re: Plan choice"
    reply["In-Reply-To"] = reply["References"] = question["internet_message_id"]
    reply.set_content("2")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.send_message(reply)
    find_in_inbox(admin, bot, "Re: Plan choice")
    thread = admin.ok("GET", "get_thread", thread_id=asked["thread_id"])
    assert thread["messages"][-1]["decision"] == "Pro"


def test_decide_email_gated_send_is_held(admin, mailbox):
    bot = mailbox()  # gated_send: a decision starts a new conversation
    asked = admin.ok("POST", "decide_email", {"from": bot, "to": new_address(), "question": "Go?", "options": ["Yes", "No"]})
    assert asked["status"] == "pending" and asked["oversight_mode"] == "gated_send"


@pytest.mark.parametrize("options,code", [
    (["Only one"], None),
    ([], None),
    ("Yes or no", None),
    (["Yes", "yes"], None),
    (["Yes", ""], None),
    (["Yes", "2"], None),
    (["Yes", 5], None),
    (["Yes", "No\nBcc: x@evil.test"], "header_injection"),
    ([f"o{i}" for i in range(21)], None),
    (["Yes", "x" * 201], None),
])
def test_decide_email_options_validation(admin, mailbox, options, code):
    bot = mailbox(oversight_mode="autonomous")
    before = snapshot(admin, bot)
    r = admin.post("decide_email", {"from": bot, "to": new_address(), "question": "Go?", "options": options})
    err = assert_error(r, 400, code)
    assert "options" in err["message"] or "options" in str(err["details"])
    assert snapshot(admin, bot) == before


def test_decide_email_missing_question(admin, mailbox):
    bot = mailbox(oversight_mode="autonomous")
    before = snapshot(admin, bot)
    assert_error(admin.post("decide_email", {"from": bot, "to": new_address(), "options": ["a", "b"]}), 400, "missing_field")
    assert_error(admin.post("decide_email", {"from": bot, "to": new_address(), "question": "   ", "options": ["a", "b"]}), 400, "missing_field")
    assert snapshot(admin, bot) == before


def test_send_from_unknown_mailbox_is_404(admin, mailbox):
    assert_error(admin.post("send_email", {"from": new_address(), "to": mailbox(), "subject": "s", "body": "b"}), 404, "mailbox_not_found")


def test_monitored_send_requests_review(admin, mailbox):
    box = mailbox(oversight_mode="monitored")
    sent = admin.ok("POST", "send_email", {"from": box, "to": new_address(), "subject": "FYI", "body": "x"})
    assert sent["status"] == "queued" and sent["oversight_mode"] == "monitored"
    wait_status(admin, sent["message_id"])
    actions = [e["action"] for e in all_audit(admin, message_id=sent["message_id"])]
    assert "message.review_requested" in actions


def test_reply_to_mail_with_line_breaks_in_its_subject(server, admin, mailbox):
    """Received mail can carry CR/LF (or U+2028, VT, ...) in an encoded-word subject; a reply must
    neither copy them into its own Subject header nor wedge the delivery worker."""
    import smtplib

    box = mailbox(oversight_mode="autonomous")
    subjects = ["=?utf-8?q?Hi=0D=0ABcc:_victim@evil.test?=", "=?utf-8?q?Hi=E2=80=A8there?=", "=?utf-8?q?Hi=0Bthere?=",
                # Double-encoded: the stored subject is itself an encoded-word, which the MIME
                # encoder would decode into a CRLF and a Bcc header when composing the reply.
                "=?utf-8?q?Hi_=3D=3Futf-8=3Fq=3Fx=3D0D=3D0ABcc=3A=5Fvictim=40evil=2Etest=3F=3D?="]
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        for i, subject in enumerate(subjects):
            raw = (f"From: Ext <ext{i}@partner.test>\r\nTo: {box}\r\nSubject: {subject}\r\n"
                   f"Message-ID: <crlf{i}-{box}>\r\n\r\nhello\r\n")
            smtp.sendmail(f"ext{i}@partner.test", [box], raw.encode())
    received = admin.ok("GET", "check_inbox", mailbox=box)["messages"]
    assert len(received) == len(subjects)
    for msg in received:
        reply = admin.ok("POST", "reply_email", {"message_id": msg["message_id"], "body": "ok"})
        out = wait_status(admin, reply["message_id"], "sent")
        assert out["subject"].startswith("Re: Hi") and not any(c in out["subject"] for c in "\r\n\x0b\u2028")
        assert "=?" not in out["subject"]
