"""get_raw and `multimail show --raw`: the exact bytes kept with a message, scoped like read_email,
with decision secrets replaced."""

from __future__ import annotations

import re
import smtplib
import subprocess
import sys
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

import requests

from tests.conftest import wait_for

TOKEN = re.compile(rb"/d/[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22}")


def decoded(raw: bytes) -> bytes:
    """Headers and every text part decoded (quoted-printable and base64 hide a token from a byte search)."""
    msg = message_from_bytes(raw, policy=default_policy)
    texts = [str(v) for _, v in msg.items()]
    texts += [p.get_content() for p in msg.walk() if p.get_content_maintype() == "text"]
    return "\n".join(texts).encode()


def raw_of(api, message_id: str) -> requests.Response:
    return requests.get(f"{api.base}/v1/get_raw", params={"message_id": message_id}, headers=api.headers(), timeout=30)


def test_inbound_bytes_are_those_received_and_scoped(server, admin, mailbox, make_key):
    box = mailbox(oversight_mode="autonomous")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ana@partner.test", box, "raw please"
    msg.set_content("the body, byte for byte")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as s:
        s.send_message(msg)
    [item] = wait_for(lambda: admin.ok("GET", "check_inbox", mailbox=box)["messages"])
    r = raw_of(admin, item["message_id"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("message/rfc822")
    got = message_from_bytes(r.content, policy=default_policy)
    assert got["Subject"] == "raw please" and got.get_content().strip() == "the body, byte for byte"
    assert got["Authentication-Results"]  # as stored: with the receiver's verdict stamped on
    other = make_key("agent", [mailbox()])
    assert raw_of(other, item["message_id"]).status_code == 404
    cli = subprocess.run([sys.executable, "-m", "multimail_server.cli", "show", item["message_id"], "--raw",
                          "--database-url", server.database_url], capture_output=True, timeout=60)
    assert cli.returncode == 0 and cli.stdout == r.content


def test_a_held_message_has_no_bytes_yet_and_a_question_shows_no_secret(server, admin, mailbox):
    box = mailbox(oversight_mode="gated_all")
    held = admin.ok("POST", "send_email", {"from": box, "to": "ana@partner.test", "subject": "s", "body": "b"})
    r = raw_of(admin, held["message_id"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_composed_yet"

    free = mailbox(oversight_mode="autonomous")
    asked = admin.ok("POST", "decide_email", {"from": free, "to": "boss@partner.test", "question": "Go?", "options": ["Yes", "No"]})
    wait_for(lambda: admin.ok("GET", "read_email", message_id=asked["message_id"])["status"] == "sent")
    [(sent,)] = server.query("select raw from captured_mail where message_id = :m", m=asked["message_id"])
    assert TOKEN.search(decoded(sent)) and b"+q_" in sent  # what the recipient got carries them
    shown = raw_of(admin, asked["message_id"]).content
    assert not TOKEN.search(decoded(shown)) and b"+q_" not in shown and b"one-click decision link" in decoded(shown)
    assert message_from_bytes(shown, policy=default_policy)["Message-ID"] == message_from_bytes(sent)["Message-ID"]
