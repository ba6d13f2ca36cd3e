"""Decisions read from real-world replies: every file of corpus/replies/ (Gmail, Outlook desktop,
OWA and iOS, Apple Mail, Thunderbird, German/French/Spanish/Dutch/Swedish/Italian/Japanese
clients, HTML-only, quoted-printable, base64, ISO-8859-1, windows-1252, Shift_JIS, out-of-office,
two options, a negation) is delivered over SMTP as the reply to a real decide_email question, and
get_thread must show the decision expected.json names (null: unclear, with a decision.unclear
audit event)."""

from __future__ import annotations

import json
import smtplib
import uuid
from pathlib import Path

import pytest

from multimail_server.mail.parse import parse_message
from multimail_server.mail.replies import decision_of

from ..conftest import wait_for

CORPUS = Path(__file__).parent / "corpus" / "replies"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
OPTIONS = ["Approve", "Reject", "Postpone"]
ASKED = "bob.boss@partner.test"


def rewrite(raw: bytes, *, question_id: str, mailbox: str, asked: str) -> bytes:
    """The corpus file as a reply to this question: In-Reply-To/References name the question's
    Message-ID, To the mailbox, From the asked address (display name kept), a fresh Message-ID."""
    sep = b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n"
    head, body = raw.split(sep, 1)
    head = head.replace(b"<QUESTION@acme.test>", question_id.encode())
    lines = head.split(b"\r\n")
    out = []
    for line in lines:
        lower = line.lower()
        if lower.startswith(b"from:"):
            line = line.replace(b"bob.boss@partner.test", asked.encode())
        elif lower.startswith(b"to:"):
            line = b"To: Pricing Agent <" + mailbox.encode() + b">"
        elif lower.startswith(b"message-id:"):
            line = b"Message-ID: <" + uuid.uuid4().hex.encode() + b"@partner.test>"
        out.append(line)
    return b"\r\n".join(out) + sep + body


def test_manifest_covers_every_file():
    files = {p.name for p in CORPUS.glob("*.eml")}
    assert files == set(EXPECTED), files ^ set(EXPECTED)
    assert len(files) >= 20
    # The corpus is not one-sided: it has decisions for every option, and unclear replies.
    decisions = [e["decision"] for e in EXPECTED.values()]
    assert set(OPTIONS) <= set(decisions) and decisions.count(None) >= 6


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_reply_offline(name):
    """The same reading without a server (fast feedback on the parser and the matcher)."""
    mail = parse_message((CORPUS / name).read_bytes())
    assert decision_of(mail, OPTIONS) == EXPECTED[name]["decision"], EXPECTED[name]["note"]


@pytest.fixture(scope="module")
def agent_box(admin):
    address = f"pricing-{uuid.uuid4().hex[:8]}@acme.test"
    admin.ok("POST", "create_mailbox", {"address": address, "oversight_mode": "autonomous"})
    return address


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_reply_over_smtp_decides_as_expected(server, admin, agent_box, name):
    asked = admin.ok("POST", "decide_email", {
        "from": agent_box, "to": f"Bob Boss <{ASKED}>", "subject": f"Ship the Q1 pricing update? ({name})",
        "question": "Should we ship the Q1 pricing update to all customers on Monday?", "options": OPTIONS})
    question = wait_for(lambda: (m := admin.ok("GET", "read_email", message_id=asked["message_id"]))["status"] == "sent" and m)
    raw = rewrite((CORPUS / name).read_bytes(), question_id=question["internet_message_id"], mailbox=agent_box, asked=ASKED)
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=20) as s:
        s.ehlo()
        assert s.mail(ASKED)[0] == 250
        assert s.rcpt(agent_box)[0] == 250
        code, reply = s.data(raw)
    assert code == 250, reply

    thread = admin.ok("GET", "get_thread", thread_id=asked["thread_id"])
    assert [m["direction"] for m in thread["messages"]] == ["outbound", "inbound"], name
    answer = thread["messages"][1]
    assert answer["is_reply"] is True
    expected = EXPECTED[name]["decision"]
    assert answer["decision"] == expected, (name, EXPECTED[name]["note"], answer["body"][:300])
    assert thread["decision"] == expected
    actions = [e["action"] for e in admin.ok("GET", "audit_log", message_id=answer["message_id"])["events"]]
    if expected is None:
        # Not a decision: an auto-reply (never decides) or a reply naming no single option.
        assert "decision.unverified" in actions and "decision.received" not in actions
        reason = answer["decision_check"]["reason"]
        assert reason in ("auto_reply", "unclear"), reason
        assert ("decision.unclear" in actions) == (reason == "unclear")
    else:
        assert "decision.received" in actions and "decision.unverified" not in actions
        assert answer["decision_check"] == {"outcome": "decided", "decision": expected, "reason": None,
                                            "proof": "dmarc", "question_message_id": asked["message_id"]}
