"""Fixtures of the bounce suite: the HTTP suite's servers (SQLite and PostgreSQL) and keys, and
helpers that build delivery reports from a message the server really sent (its bytes and
envelope as capture mode kept them) and mail them back over real SMTP on loopback."""

from __future__ import annotations

import secrets
import smtplib
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

import pytest

from tests.api.conftest import admin, agent, approver, no_server_errors, outside, server  # noqa: F401
from tests.api.helpers import wait_status


class Sent:
    """One outbound message as it left: its id, Message-ID, envelope sender and bytes."""

    def __init__(self, message_id: str, mail_from: str, raw: bytes):
        self.message_id, self.mail_from, self.raw = message_id, mail_from, raw
        self.internet_id = message_from_bytes(raw, policy=default_policy)["Message-ID"]

    def headers(self) -> bytes:
        return self.raw.replace(b"\r\n", b"\n").partition(b"\n\n")[0] + b"\n"


@pytest.fixture
def send_out(admin, server):
    """send_out(from_box, to) -> Sent: an autonomous send to a remote address, once captured."""

    def _send(box: str, to: str | list[str], subject: str | None = None) -> Sent:
        sent = admin.ok("POST", "send_email", {"from": box, "to": to, "subject": subject or f"Offer {secrets.token_hex(3)}",
                                               "body": "Hello."})
        wait_status(admin, sent["message_id"], "sent")
        [(mail_from, raw)] = server.query("SELECT mail_from, raw FROM captured_mail WHERE message_id = :m", m=sent["message_id"])
        return Sent(sent["message_id"], mail_from, bytes(raw))

    return _send


def dsn(sent: Sent | None, recipients: list[tuple[str, str, str, str | None]], *, message_id: str | None = None,
        original: str = "headers") -> bytes:
    """An RFC 3464 report: one (address, action, status, diagnostic) group per recipient, and the
    original's headers (text/rfc822-headers) or whole message (message/rfc822)."""
    groups = []
    for address, action, status, diagnostic in recipients:
        group = f"Final-Recipient: rfc822; {address}\nAction: {action}\nStatus: {status}\n"
        if diagnostic:
            group += f"Diagnostic-Code: smtp; {diagnostic}\n"
        groups.append(group)
    if sent is not None and original == "message":
        returned = "Content-Type: message/rfc822\n\n" + sent.raw.replace(b"\r\n", b"\n").decode()
    elif sent is not None:
        head = sent.headers().decode()
        if message_id is not None:
            head = head.replace(sent.internet_id, message_id)
        returned = "Content-Type: text/rfc822-headers\n\n" + head
    else:
        returned = f"Content-Type: text/rfc822-headers\n\nMessage-ID: {message_id or '<nobody@nowhere.test>'}\nSubject: x\n"
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.partner.test>\n"
        "To: postmaster@acme.test\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        f"Message-ID: <dsn-{secrets.token_hex(6)}@mx.partner.test>\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B0UND"\n\n'
        "--B0UND\nContent-Type: text/plain\n\nYour message could not be delivered.\n"
        "--B0UND\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.partner.test\nArrival-Date: Tue, 1 Dec 2026 12:00:00 +0000\n\n"
        + "\n".join(groups)
        + f"\n--B0UND\n{returned}\n--B0UND--\n"
    ).encode()


def arf(sent: Sent, complainant: str | None, feedback_type: str = "abuse") -> bytes:
    """An RFC 5965 feedback report about `sent` (Original-Rcpt-To left out when None: redacted)."""
    rcpt = f"Original-Rcpt-To: <{complainant}>\n" if complainant else ""
    return (
        "From: feedback@fbl.partner.test\nTo: postmaster@acme.test\nSubject: Complaint\n"
        f"Message-ID: <arf-{secrets.token_hex(6)}@fbl.partner.test>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F3"\n\n'
        "--F3\nContent-Type: text/plain\n\nThis is an abuse report.\n"
        f"--F3\nContent-Type: message/feedback-report\n\nFeedback-Type: {feedback_type}\nUser-Agent: fbl/1.0\nVersion: 1\n{rcpt}\n"
        "--F3\nContent-Type: message/rfc822\n\n" + sent.raw.replace(b"\r\n", b"\n").decode() + "\n--F3--\n"
    ).encode()


@pytest.fixture
def smtp_to(server):
    """smtp_to(rcpt, raw): deliver over real SMTP on loopback with the null sender, as a bounce comes."""

    def _deliver(rcpt: str, raw: bytes, mail_from: str = "") -> dict[str, Any]:
        with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as s:
            return s.sendmail(mail_from, [rcpt], raw)

    return _deliver
