"""Malformed delivery reports over real SMTP at a genuine VERP address: each broken form of an
RFC 3464 report an attacker or a broken MTA can send. None may bounce the message or suppress
anyone, the server must not fail on any (the suite's guard fails a test on a traceback in its
log), and each is kept as ordinary mail with the reason it was not read as a report. Then the
spellings of a suppressed address that test_bounces.py does not try: +tags and Unicode
compatibility forms, over the verb and the hosted send routes."""

from __future__ import annotations

import secrets

import pytest
import requests

from tests.api.helpers import all_audit, assert_error, find_in_inbox
from tests.conftest import wait_for

from .conftest import dsn

SPAM_TOO = {"include_spam": "true"}
RCPT = "finn@partner.test"


def _group(rcpt: str = RCPT) -> str:
    return f"Final-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: 5.1.1\n"


# name -> (how the well-formed report is broken, a part of the reason audited)
BROKEN = {
    "no Final-Recipient": (lambda r: r.replace(f"Final-Recipient: rfc822; {RCPT}\n".encode(), b""), "Final-Recipient"),
    "Final-Recipient not an address": (lambda r: r.replace(f"rfc822; {RCPT}".encode(), b"rfc822; <<<@@>>>"), "not_a_recipient"),
    "Action not an action": (lambda r: r.replace(b"Action: failed", b"Action: exploded"), "Action"),
    "Status of two parts": (lambda r: r.replace(b"Status: 5.1.1", b"Status: 5.1"), "Status"),
    "Status with NUL and 8-bit junk": (lambda r: r.replace(b"Status: 5.1.1", b"Status: 5.\x00\xff\xfe.1"), ""),
    "no delivery-status part": (lambda r: r.replace(b"Content-Type: message/delivery-status", b"Content-Type: text/plain"),
                                "delivery-status"),
    "unknown report-type": (lambda r: r.replace(b"report-type=delivery-status", b"report-type=bogus"), "report-type"),
    "cut off inside the status part": (lambda r: r[:r.index(b"Status: 5.1.1")], ""),
    "more recipients than a message can have": (
        lambda r: r.replace(_group().encode(), "\n".join([_group()] * 101).encode()), "more than"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_malformed_report_changes_nothing_and_is_kept_as_mail(admin, server, mailbox, send_out, smtp_to, case):
    box = mailbox(oversight_mode="autonomous")
    sent = send_out(box, RCPT)
    subject = f"Undelivered {secrets.token_hex(3)}"
    break_it, reason = BROKEN[case]
    raw = break_it(dsn(sent, [(RCPT, "failed", "5.1.1", "550 no such user")]))
    raw = raw.replace(b"Subject: Undelivered Mail Returned to Sender", f"Subject: {subject}".encode())
    smtp_to(sent.mail_from, raw)
    notes = wait_for(lambda: [e for e in all_audit(admin, mailbox=box) if e["action"] in ("bounce.unrecognised", "bounce.ignored")],
                     timeout=15, what=f"the {case} report to be audited")
    assert reason in notes[0]["details"]["reason"], notes[0]["details"]
    if notes[0]["action"] == "bounce.unrecognised":
        find_in_inbox(admin, box, subject, **SPAM_TOO)  # a human can still read it
    view = admin.ok("GET", "read_email", message_id=sent.message_id)
    assert view["status"] == "sent" and not view.get("bounces")
    assert admin.ok("GET", "list_suppressions", mailbox=box)["suppressions"] == []
    assert not any(e["action"] in ("message.bounced", "suppression.added") for e in all_audit(admin, mailbox=box))


@pytest.mark.parametrize("form", ["Kim+News@xn--bcher-kva.test", "kim+a+b@BÜCHER.test", "ＫＩＭ@bücher.test",
                                  '"Kim Q" <kim+x@xn--BCHER-kva.test>'])
def test_a_tag_or_a_compatibility_form_of_a_suppressed_address_is_refused(admin, server, mailbox, form):
    """Beside case and IDN spellings (test_bounces.py): a +tag (it reaches the same person) and a
    Unicode compatibility form of the local part (NFKC) are the same entry, on every send route."""
    box = mailbox(oversight_mode="autonomous")
    admin.ok("POST", "add_suppression", {"mailbox": box, "address": "kim@bücher.test", "detail": "asked us to stop"})
    count = server.query("SELECT COUNT(*) FROM messages")[0][0]
    err = assert_error(admin.post("send_email", {"from": box, "to": form, "subject": "s", "body": "b"}), 409, "suppressed")
    assert err["details"]["suppressed_address"] == "kim@xn--bcher-kva.test" and "asked us to stop" in err["message"]
    assert_error(requests.post(f"{server.base}/v1/mailboxes/{box}/send", json={"to": [form], "subject": "s", "markdown": "b"},
                               headers=admin.headers(), timeout=30), 409, "suppressed")
    assert server.query("SELECT COUNT(*) FROM messages")[0][0] == count


def test_a_tagged_entry_leaves_the_plain_address_and_other_tags_alone(admin, mailbox):
    box = mailbox(oversight_mode="autonomous")
    admin.ok("POST", "add_suppression", {"mailbox": box, "address": "lou+news@partner.test"})
    assert_error(admin.post("send_email", {"from": box, "to": "LOU+NEWS@partner.test", "subject": "s", "body": "b"}), 409, "suppressed")
    for other in ("lou@partner.test", "lou+billing@partner.test"):
        assert admin.ok("POST", "send_email", {"from": box, "to": other, "subject": f"to {other}", "body": "b"})["status"] in ("queued", "sent")
