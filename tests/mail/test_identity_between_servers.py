"""Mail from one MultiMail server to another: the receiver checks the sender's signed identity
claim with the key the sending server publishes, and reports it in `authentication`."""

from __future__ import annotations

import json
import smtplib
import sqlite3
import time

from tests.conftest import Api, ServerProcess


def captured_raw(srv: ServerProcess, message_id: str) -> bytes:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with sqlite3.connect(srv.data_dir / "multimail.db") as db:
            row = db.execute("select raw from captured_mail where message_id = ?", (message_id,)).fetchone()
        if row:
            return row[0]
        time.sleep(0.1)
    raise AssertionError("the message was not captured")


def deliver(srv: ServerProcess, raw: bytes, rcpt: str) -> None:
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
        s.sendmail("agent@a.test", [rcpt], raw)


def test_receiver_verifies_the_senders_claim_and_catches_tampering(tmp_path):
    a = ServerProcess(tmp_path / "a")
    # b's view of DNS: a.test sends from loopback (SPF) under a DMARC policy, so mail from it
    # authenticates; other.test publishes nothing. a's public URL is on loopback, not https at
    # a.test: b is told (test-only setting) that this is a.test's issuer.
    dns = tmp_path / "dns.json"
    dns.write_text(json.dumps({"a.test": ["v=spf1 ip4:127.0.0.1 -all"], "_dmarc.a.test": ["v=DMARC1; p=reject"]}))
    b = ServerProcess(tmp_path / "b", env={"MULTIMAIL_DNS_OVERRIDES": str(dns),
                                           "MULTIMAIL_IDENTITY_TEST_ISSUERS": json.dumps({"a.test": a.base})})
    try:
        api_a, api_b = Api(a.base, a.admin_key), Api(b.base, b.admin_key)
        api_a.ok("POST", "create_mailbox", {"address": "agent@a.test", "oversight_mode": "gated_send"})
        api_b.ok("POST", "create_mailbox", {"address": "ops@b.test"})
        sent = api_a.ok("POST", "send_email", {"from": "agent@a.test", "to": "ops@b.test", "subject": "Invoice 42", "body": "Please pay."})
        api_a.ok("POST", "approve_message", {"message_id": sent["message_id"], "note": "checked"})
        raw = captured_raw(a, sent["message_id"])
        assert b"X-MultiMail-Identity" in raw

        deliver(b, raw, "ops@b.test")
        [item] = api_b.ok("GET", "check_inbox", mailbox="ops@b.test")["messages"]
        claim = api_b.ok("GET", "read_email", message_id=item["message_id"])["authentication"]["multimail_identity"]
        assert claim["valid"] is True and claim["key_source"] == "issuer"
        assert claim["mailbox"] == "agent@a.test" and claim["oversight_mode"] == "gated_send"
        assert claim["approval_status"] == "approved" and claim["approved_by"] and claim["ai_generated"] is True
        assert claim["issuer"] == a.base

        forged = raw.replace(b"Subject: Invoice 42", b"Subject: Invoice 43").replace(b"Message-ID: <", b"Message-ID: <x", 1)
        deliver(b, forged, "ops@b.test")
        newest = api_b.ok("GET", "check_inbox", mailbox="ops@b.test", include_spam="true")["messages"][0]
        assert newest["subject"] == "Invoice 43"
        claim = api_b.ok("GET", "read_email", message_id=newest["message_id"])["authentication"]["multimail_identity"]
        assert claim["valid"] is False and claim["error"]

        # The genuine bytes again, but from a sender whose domain does not authenticate them:
        # a claim checked with a key the message itself points to proves nothing then.
        relabelled = raw.replace(b"Message-ID: <", b"Message-ID: <y", 1)
        with smtplib.SMTP("127.0.0.1", b.smtp_port, timeout=10) as s:
            s.sendmail("someone@other.test", ["ops@b.test"], relabelled)
        newest = api_b.ok("GET", "check_inbox", mailbox="ops@b.test", include_spam="true")["messages"][0]
        auth = api_b.ok("GET", "read_email", message_id=newest["message_id"])["authentication"]
        assert auth["verified_sender"] is False
        assert auth["multimail_identity"]["valid"] is False and auth["multimail_identity"]["key_source"] is None
    finally:
        a.stop()
        b.stop()


def test_mail_without_a_claim_reports_none(server, admin, mailbox):
    box = mailbox()
    deliver(server, b"From: ana@elsewhere.test\r\nTo: " + box.encode() + b"\r\nSubject: plain\r\nMessage-ID: <p1@elsewhere.test>\r\n\r\nhi\r\n", box)
    [item] = admin.ok("GET", "check_inbox", mailbox=box)["messages"]
    auth = admin.ok("GET", "read_email", message_id=item["message_id"])["authentication"]
    assert "multimail_identity" not in auth and auth["verified_sender"] is False
