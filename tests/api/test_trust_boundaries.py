"""Where trust is easy to get wrong: who may decide, what an approver's edit sends, what an
approval screen renders, what the audit trail may show to an agent."""

from __future__ import annotations

import smtplib
import time
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

from multimail_server.webhooks.ssrf import classify


def wait_sent(api, message_id, timeout=15.0):
    deadline = time.monotonic() + timeout
    while (m := api.ok("GET", "read_email", message_id=message_id))["status"] != "sent":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return m


def reply(server, question, sender, envelope_from, text):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, question["from"], "Re: " + question["subject"]
    msg["In-Reply-To"] = msg["References"] = question["internet_message_id"]
    msg.set_content(text)
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.send_message(msg, from_addr=envelope_from)


def test_a_forged_from_header_never_decides(server, admin, mailbox):
    box = mailbox(oversight_mode="autonomous")
    asked = admin.ok("POST", "decide_email", {"from": box, "to": "boss@partner.test", "question": "Wire the money?", "options": ["Yes", "No"]})
    question = wait_sent(admin, asked["message_id"])
    # The From header names the person asked, but the envelope comes from a domain whose SPF
    # does not cover this sender: DMARC fails, so the reply cannot decide.
    reply(server, question, "boss@partner.test", "mallory@elsewhere.test", "Yes")
    thread = admin.ok("GET", "get_thread", thread_id=asked["thread_id"])
    assert thread["messages"][-1]["decision"] is None and thread["decision"] is None
    events = admin.ok("GET", "audit_log", mailbox=box, action="decision.unverified")["events"]
    assert [e["details"]["reason"] for e in events] == ["dmarc_fail"]
    # The real person, authenticated (SPF for partner.test covers loopback), decides.
    reply(server, question, "boss@partner.test", "boss@partner.test", "No")
    assert admin.ok("GET", "get_thread", thread_id=asked["thread_id"])["decision"] == "No"


def test_an_approvers_text_edit_is_what_goes_out(server, admin, mailbox):
    box = mailbox(oversight_mode="gated_all")
    sent = admin.ok("POST", "send_email", {"from": box, "to": "ana@partner.test", "subject": "Offer",
                                           "body": "SECRET PRICE 100", "html": "<p>SECRET PRICE 100</p>"})
    admin.ok("POST", "approve_message", {"message_id": sent["message_id"], "body": "Price on request"})
    wait_sent(admin, sent["message_id"])
    [(raw,)] = server.query("select raw from captured_mail where message_id = :m", m=sent["message_id"])
    assert b"SECRET PRICE" not in raw
    assert message_from_bytes(raw, policy=default_policy).get_content().strip() == "Price on request"


def test_approval_screens_get_sanitised_html(admin, mailbox):
    box = mailbox(oversight_mode="gated_all")
    sent = admin.ok("POST", "send_email", {"from": box, "to": "ana@partner.test", "subject": "x", "body": "x",
                                           "html": '<p>Hi</p><img src=x onerror="alert(1)"><script>steal()</script>'})
    [item] = [m for m in admin.ok("GET", "list_pending", mailbox=box)["messages"] if m["message_id"] == sent["message_id"]]
    assert "<p>Hi</p>" in item["html"] and "onerror" not in item["html"] and "script" not in item["html"]


def test_webhook_urls_in_the_audit_trail_keep_no_secrets(admin, make_key, mailbox):
    box = mailbox()
    hook = admin.ok("POST", "create_webhook", {"url": "http://user:pw@127.0.0.1:9/hook?token=SUPERSECRET", "mailbox": box})
    admin.ok("POST", "test_webhook", {"webhook_id": hook["webhook_id"]})
    agent = make_key("agent", [box])
    events = agent.ok("GET", "audit_log", mailbox=box)["events"]
    created = [e for e in events if e["action"] == "webhook.created"]
    assert created and created[0]["details"]["url"] == "http://127.0.0.1:9/hook"
    assert "SUPERSECRET" not in str(events) and "pw@" not in str(events)
    assert [e for e in events if e["action"] == "webhook.tested"]


def test_ipv4_inside_ipv6_is_judged_as_what_it_carries():
    for carried in ("2002:a9fe:a9fe::1", "::ffff:169.254.169.254"):  # 6to4 and mapped metadata address
        assert classify(carried, allow_private=True) == "cloud metadata address"
    assert classify("2002:0a00:0001::1", allow_private=False) is not None  # 6to4 of 10.0.0.1
