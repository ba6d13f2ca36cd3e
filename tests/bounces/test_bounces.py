"""Bounces and complaints through the real interfaces: a message the server sent (captured), a
report about it mailed back over SMTP on loopback to its VERP address, and what the HTTP API then
shows: its status, the audit trail and events, the suppression list, and the next send refused."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from tests.api.helpers import all_audit, assert_error, find_in_inbox, inbox_ids, wait_status
from tests.conftest import wait_for

from .conftest import arf, dsn


def audit_actions(admin, box: str) -> list[str]:
    return [e["action"] for e in all_audit(admin, mailbox=box)]


def events_of(server, message_id: str) -> list[str]:
    return [r[0] for r in server.query("SELECT type FROM events WHERE message_id = :m ORDER BY seq", m=message_id)]


def entries(admin, box: str) -> list[dict]:
    return admin.ok("GET", "list_suppressions", mailbox=box)["suppressions"]


def test_outbound_mail_carries_a_signed_verp_envelope_sender(mailbox, send_out):
    box = mailbox(oversight_mode="autonomous")
    one, two = send_out(box, "bob@partner.test"), send_out(box, "bob@partner.test")
    local, domain = box.split("@")
    for sent in (one, two):
        assert sent.mail_from.startswith(f"{local}+b_{sent.message_id.removeprefix('msg_')}_")
        assert sent.mail_from.endswith("@" + domain)
    assert one.mail_from != two.mail_from  # per message


def test_a_hard_bounce_marks_the_message_suppresses_the_address_and_refuses_the_next_send(admin, server, mailbox, send_out, smtp_to):
    box = mailbox(oversight_mode="autonomous")
    sent = send_out(box, ["bob@partner.test", "carol@partner.test"])
    inbox_before = inbox_ids(admin, box, **SPAM_TOO)
    smtp_to(sent.mail_from, dsn(sent, [("Bob@Partner.test", "failed", "5.1.1", "550 5.1.1 <bob@partner.test>: user unknown")]))

    msg = wait_for(lambda: (m := admin.ok("GET", "read_email", message_id=sent.message_id))["failure_reason"] and m,
                   what="the bounce to be recorded")
    assert "bob@partner.test: 5.1.1" in msg["failure_reason"] and "user unknown" in msg["failure_reason"]
    assert "carol@partner.test" not in msg["failure_reason"]
    assert msg["status"] == "sent"  # carol got it: `bounced` only once every recipient failed
    assert "message.bounced" in events_of(server, sent.message_id)
    [bounced] = [e for e in all_audit(admin, mailbox=box) if e["action"] == "message.bounced"]
    assert bounced["details"]["recipients"] == [{"address": "bob@partner.test", "action": "failed", "status": "5.1.1",
                                                 "diagnostic": "smtp; 550 5.1.1 <bob@partner.test>: user unknown",
                                                 "kind": "hard", "suppressed": True}]
    [entry] = entries(admin, box)
    assert entry["address"] == "bob@partner.test" and entry["reason"] == "hard_bounce" and entry["message_id"] == sent.message_id
    assert entry["detail"].startswith("5.1.1")
    assert inbox_ids(admin, box, **SPAM_TOO) == inbox_before  # the report is not mail, not even as spam

    count = server.query("SELECT COUNT(*) FROM messages")[0][0]
    for spelling in ("bob@partner.test", "BOB@PARTNER.TEST", "Bob <bob@Partner.Test>", "bob+promo@partner.test"):
        err = assert_error(admin.post("send_email", {"from": box, "to": ["carol@partner.test", spelling], "subject": "s", "body": "b"}),
                           409, "suppressed")
        assert err["details"]["suppressed_address"] == "bob@partner.test" and err["details"]["reason"] == "hard_bounce"
        assert err["details"]["suppressed_at"] == entry["created_at"] and "5.1.1" in err["details"]["detail"]
        assert "bob@partner.test" in err["message"] and "since" in err["message"]
    assert server.query("SELECT COUNT(*) FROM messages")[0][0] == count  # refused: nothing stored
    # A reply to a thread is refused the same way (the suppression check is in the one submit path).
    assert_error(admin.post("reply_email", {"message_id": sent.message_id, "body": "again?"}), 409, "suppressed")
    # The same report again changes nothing more.
    smtp_to(sent.mail_from, dsn(sent, [("bob@partner.test", "failed", "5.1.1", "550 5.1.1 <bob@partner.test>: user unknown")]))
    wait_for(lambda: audit_actions(admin, box).count("bounce.ignored") == 1, what="the repeat to be ignored")
    assert audit_actions(admin, box).count("message.bounced") == 1 and len(entries(admin, box)) == 1
    # Carol fails too: now the message is bounced.
    smtp_to(sent.mail_from, dsn(sent, [("carol@partner.test", "failed", "5.7.1", "550 5.7.1 rejected by policy")], original="message"))
    msg = wait_status(admin, sent.message_id, "bounced")
    assert "carol@partner.test: 5.7.1" in msg["failure_reason"] and "bob@partner.test: 5.1.1" in msg["failure_reason"]
    assert sorted(e["address"] for e in entries(admin, box)) == ["bob@partner.test", "carol@partner.test"]


def test_a_soft_bounce_is_recorded_but_suppresses_nothing(admin, server, mailbox, send_out, smtp_to):
    box = mailbox(oversight_mode="autonomous")
    sent = send_out(box, "dana@partner.test")
    smtp_to(sent.mail_from, dsn(sent, [("dana@partner.test", "delayed", "4.2.2", "452 4.2.2 mailbox full")]))
    wait_for(lambda: "message.delayed" in audit_actions(admin, box), what="the delay to be recorded")
    assert admin.ok("GET", "read_email", message_id=sent.message_id)["status"] == "sent"
    smtp_to(sent.mail_from, dsn(sent, [("dana@partner.test", "failed", "4.4.7", "message expired")], original="message"))
    msg = wait_status(admin, sent.message_id, "bounced")
    assert "4.4.7" in msg["failure_reason"]
    assert entries(admin, box) == []
    assert admin.ok("POST", "send_email", {"from": box, "to": "dana@partner.test", "subject": "again", "body": "b"})["status"] == "queued"


# The reports here come from a partner.test host that does not pass partner.test's DMARC policy
# (p=reject), so the spam baseline flags what is stored as mail: it is looked for with the spam.
SPAM_TOO = {"include_spam": "true"}


def _state(admin, server, box: str, message_id: str):
    return (admin.ok("GET", "read_email", message_id=message_id)["status"], entries(admin, box),
            inbox_ids(admin, box, **SPAM_TOO), events_of(server, message_id))


def test_forged_tags_unknown_messages_and_strangers_change_nothing(admin, server, mailbox, send_out, smtp_to):
    box = mailbox(oversight_mode="autonomous")
    sent = send_out(box, "erin@partner.test")
    before = _state(admin, server, box, sent.message_id)
    report = dsn(sent, [("erin@partner.test", "failed", "5.1.1", "no such user")])
    local, domain = sent.mail_from.split("@")
    forged = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    smtp_to(forged, report)
    # A tag made for a message id with the server's own key, but no such message.
    [(key,)] = server.query("SELECT private_key FROM server_keys WHERE kind = 'link-hmac'")
    ghost = "msg_" + "z" * 20
    mac = base64.b32encode(hmac.new(base64.b64decode(key), f"verp\x1f{ghost}".encode(), hashlib.sha256).digest()[:10]).decode().lower()[:16]
    smtp_to(f"{box.split('@')[0]}+b_{'z' * 20}_{mac}@{domain}", report)
    # The genuine address, but a report about another message, and one about a stranger.
    smtp_to(sent.mail_from, dsn(sent, [("erin@partner.test", "failed", "5.1.1", "x")], message_id="<other@acme.test>"))
    smtp_to(sent.mail_from, dsn(sent, [("mallory-victim@elsewhere.test", "failed", "5.1.1", "x")]))
    # A DSN sent to the mailbox's plain address is ordinary mail, never a bounce.
    smtp_to(box, report)
    find_in_inbox(admin, box, "Undelivered Mail Returned to Sender", **SPAM_TOO)

    reasons = wait_for(lambda: (r := [e["details"]["reason"] for e in all_audit(admin, mailbox=box) if e["action"] == "bounce.ignored"])
                       and len(r) == 4 and r, what="four ignored reports")
    assert sorted(reasons) == sorted(["forged_verp_tag", "unknown_message", "message_id_mismatch", "not_a_recipient"])
    status, listed, inbox, events = _state(admin, server, box, sent.message_id)
    assert (status, listed, events) == before[:2] + (before[3],)
    assert len(inbox) == len(before[2]) + 1  # only the plain-address copy


def test_a_malformed_report_at_a_genuine_verp_address_is_stored_as_mail(admin, server, mailbox, send_out, smtp_to):
    box = mailbox(oversight_mode="autonomous")
    sent = send_out(box, "finn@partner.test")
    broken = dsn(sent, [("finn@partner.test", "failed", "five-one-one", None)])
    smtp_to(sent.mail_from, broken)
    item = find_in_inbox(admin, box, "Undelivered Mail Returned to Sender", **SPAM_TOO)
    [note] = [e for e in all_audit(admin, mailbox=box) if e["action"] == "bounce.unrecognised"]
    assert "no valid Status" in note["details"]["reason"] and note["details"]["stored_as"] == "inbound mail"
    assert admin.ok("GET", "read_email", message_id=sent.message_id)["status"] == "sent"
    assert entries(admin, box) == [] and item["message_id"]
    # Not even MIME: an out-of-office reply to the Return-Path.
    smtp_to(sent.mail_from, b"From: finn@partner.test\nTo: x@acme.test\nSubject: Out of office\n\nBack Monday.\n")
    find_in_inbox(admin, box, "Out of office", **SPAM_TOO)


def test_an_arf_complaint_suppresses_the_complainant(admin, server, mailbox, send_out, smtp_to):
    box = mailbox(oversight_mode="autonomous")
    sent = send_out(box, "gail@partner.test")
    smtp_to(sent.mail_from, arf(sent, None))  # complainant redacted: the message's only recipient
    wait_for(lambda: entries(admin, box), what="the complaint to suppress")
    [entry] = entries(admin, box)
    assert entry["address"] == "gail@partner.test" and entry["reason"] == "complaint" and "abuse" in entry["detail"]
    assert "message.complained" in events_of(server, sent.message_id)
    assert admin.ok("GET", "read_email", message_id=sent.message_id)["status"] == "sent"
    err = assert_error(admin.post("send_email", {"from": box, "to": "Gail@PARTNER.test", "subject": "s", "body": "b"}), 409, "suppressed")
    assert err["details"]["reason"] == "complaint"
    # A complaint naming someone the message was not sent to suppresses nobody.
    other = send_out(box, ["hal@partner.test", "ida@partner.test"])
    smtp_to(other.mail_from, arf(other, "victim@elsewhere.test"))
    wait_for(lambda: any(e["action"] == "bounce.ignored" and e["details"]["reason"] == "not_a_recipient"
                         for e in all_audit(admin, mailbox=box)), what="the stranger complaint to be ignored")
    assert [e["address"] for e in entries(admin, box)] == ["gail@partner.test"]


IDN_FORMS = ["kim@bücher.test", "kim@xn--bcher-kva.test", "KIM@BÜCHER.TEST", "Kim <kim@XN--BCHER-KVA.test>"]


@pytest.mark.parametrize("listed", [IDN_FORMS[0], IDN_FORMS[1]])
def test_suppression_cannot_be_bypassed_by_case_or_idn_forms(admin, server, mailbox, listed):
    box = mailbox(oversight_mode="autonomous")
    added = admin.ok("POST", "add_suppression", {"mailbox": box, "address": listed, "detail": "asked us to stop"})
    assert added["added"] is True and added["suppression"]["address"] == "kim@xn--bcher-kva.test"
    again = admin.ok("POST", "add_suppression", {"mailbox": box, "address": "KIM@bücher.test"})
    assert again["added"] is False and again["suppression"]["reason"] == "manual"
    count = server.query("SELECT COUNT(*) FROM messages")[0][0]
    for form in IDN_FORMS:
        err = assert_error(admin.post("send_email", {"from": box, "to": form, "subject": "s", "body": "b"}), 409, "suppressed")
        assert err["details"]["suppressed_address"] == "kim@xn--bcher-kva.test" and err["details"]["address"]
        assert_error(admin.post("send_email", {"from": box, "to": "x@partner.test", "cc": [form], "subject": "s", "body": "b"}), 409, "suppressed")
    assert server.query("SELECT COUNT(*) FROM messages")[0][0] == count
    assert admin.ok("GET", "list_suppressions", mailbox=box, address="KIM@BÜCHER.TEST")["suppressions"][0]["detail"] == "asked us to stop"


def test_an_agent_may_list_and_add_but_never_remove(admin, mailbox, agent, approver):
    box = mailbox(oversight_mode="autonomous")
    a, o = agent(box), approver(box)
    assert a.ok("POST", "add_suppression", {"mailbox": box, "address": "jo@partner.test"})["added"] is True
    assert [e["address"] for e in a.ok("GET", "list_suppressions", mailbox=box)["suppressions"]] == ["jo@partner.test"]
    assert_error(a.post("remove_suppression", {"mailbox": box, "address": "jo@partner.test"}), 403, "insufficient_scope")
    assert_error(a.post("remove_suppression", {"mailbox": box, "address": "JO@partner.test"}), 403, "insufficient_scope")
    assert_error(a.post("send_email", {"from": box, "to": "jo@partner.test", "subject": "s", "body": "b"}), 409, "suppressed")
    removed = o.ok("POST", "remove_suppression", {"mailbox": box, "address": "Jo@Partner.test"})["removed"]
    assert [e["address"] for e in removed] == ["jo@partner.test"]
    assert_error(o.post("remove_suppression", {"mailbox": box, "address": "jo@partner.test"}), 404, "suppression_not_found")
    assert a.ok("POST", "send_email", {"from": box, "to": "jo@partner.test", "subject": "s", "body": "b"})["status"] == "queued"
    actions = audit_actions(admin, box)
    assert "suppression.added" in actions and "suppression.removed" in actions


def test_bad_suppression_input_gets_a_clear_error(admin, mailbox, agent):
    box = mailbox()
    assert_error(admin.post("add_suppression", {"mailbox": box, "address": "not an address"}), 400, "invalid_address")
    assert_error(admin.post("add_suppression", {"mailbox": box, "address": "a@b.test", "extra": 1}), 400)
    assert_error(admin.get("list_suppressions", mailbox=box, cursor="abc"), 400, "invalid_cursor")
    assert_error(admin.get("list_suppressions", mailbox=box, limit=0), 400)
    other = mailbox()
    assert_error(agent(box).post("add_suppression", {"mailbox": other, "address": "a@b.test"}), 404, "mailbox_not_found")
    assert entries(admin, other) == []


def test_list_pages_with_a_cursor(admin, mailbox):
    box = mailbox()
    for i in range(5):
        admin.ok("POST", "add_suppression", {"mailbox": box, "address": f"p{i}@partner.test"})
    first = admin.ok("GET", "list_suppressions", mailbox=box, limit=3)
    second = admin.ok("GET", "list_suppressions", mailbox=box, limit=3, cursor=first["next_cursor"])
    assert [e["address"] for e in first["suppressions"] + second["suppressions"]] == [f"p{i}@partner.test" for i in range(5)]
    assert second["next_cursor"] is None
