"""Awkward inbound mail (corpus/awkward/): base64, quoted-printable, ISO-8859-1, unknown charset
labels, missing headers, no headers at all, 8-bit garbage in headers, broken and truncated
multiparts, HTML with <script>, encoded filenames with paths, encoded CR/LF in a subject,
Shift_JIS HTML-only, bare LF line endings. Each is accepted over SMTP with 250, stored, and read
back with read_email (no 5xx): text decoded, headers single-line, HTML sanitised."""

from __future__ import annotations

import json
import smtplib
from pathlib import Path

import pytest

from multimail_server.mail.html import sanitize_html
from multimail_server.mail.parse import parse_message

CORPUS = Path(__file__).parent / "corpus" / "awkward"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
LINE_BREAKS = ("\r", "\n", "\u2028", "\u2029", "\x85")


def test_manifest_covers_every_file():
    assert {p.name for p in CORPUS.glob("*.eml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parse_never_raises(name):
    raw = (CORPUS / name).read_bytes()
    mail = parse_message(raw)
    assert EXPECTED[name]["body_contains"] in mail.text
    assert "\r" not in mail.text
    for value in [mail.subject, mail.from_addr, *mail.to, *(a["filename"] for a in mail.attachments)]:
        assert not any(c in value for c in LINE_BREAKS), value
    # Truncated anywhere, it still parses.
    for cut in range(0, len(raw), max(1, len(raw) // 17)):
        parse_message(raw[:cut])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_awkward_message_is_accepted_and_readable(server, admin, mailbox, name):
    box = mailbox()
    expected = EXPECTED[name]
    raw = (CORPUS / name).read_bytes()
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=20) as s:
        s.ehlo()
        assert s.mail("ana@partner.test")[0] == 250
        assert s.rcpt(box)[0] == 250
        code, reply = s.data(raw)
    assert code == 250, reply
    inbox = admin.ok("GET", "check_inbox", mailbox=box)["messages"]
    assert len(inbox) == 1
    r = admin.get("read_email", message_id=inbox[0]["message_id"])
    assert r.status_code == 200, r.text
    full = r.json()
    assert expected["body_contains"] in full["body"]
    if "subject" in expected:
        assert full["subject"] == expected["subject"]
    assert not any(c in full["subject"] for c in LINE_BREAKS)
    assert not any(c in full["from"] for c in LINE_BREAKS)
    if "attachment" in expected:
        assert [a["filename"] for a in full["attachments"]] == [expected["attachment"]]
        download = admin.session.get(full["attachments"][0]["url"], headers=admin.headers(), timeout=10)
        assert download.status_code == 200 and download.content.startswith(b"%PDF")
    if expected.get("html"):
        html = full["html"]
        assert "Quarterly <b>numbers</b> attached." in html
        lowered = html.lower()
        for bad in ("<script", "alert(", "onerror", "onload", "javascript:", "<iframe", "<form", "<style"):
            assert bad not in lowered, bad


def test_sanitize_html_is_strict():
    dirty = ('<p onclick="x()">a<script>alert(1)</script><svg><script>alert(2)</script></svg>'
             '<a href="JaVaScRiPt:alert(3)">l</a><img src="data:text/html,<script>alert(4)</script>"></p>')
    clean = sanitize_html(dirty)
    assert "script" not in clean.lower() and "onclick" not in clean and "alert" not in clean
    assert sanitize_html(None) is None
