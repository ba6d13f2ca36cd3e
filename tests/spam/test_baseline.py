"""The built-in baseline verdict (no rspamd configured) on mail that arrives over real SMTP, and
the quarantine it feeds: left out of check_inbox and claims by default, shown by list_spam and
include_spam, in and out with report_spam / not_spam, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.api.helpers import assert_error

from .conftest import GTUBE, inbox_subjects, stored

# From partner.test (DMARC p=reject) but sent with another envelope domain and no DKIM: DMARC fails.
FORGED = {"mail_from": "bounce@elsewhere.test", "sender": "ceo@partner.test"}


def test_authenticated_mail_is_ham_and_stays_in_the_inbox(admin, mailbox, deliver):
    box = mailbox()
    subject = deliver(box)
    msg = stored(admin, box, subject)
    assert msg["spam"]["state"] is None and msg["spam"]["label"] is None
    assert msg["spam"]["source"] == "baseline"
    assert msg["spam"]["score"] == -1.0
    assert [s["name"] for s in msg["spam"]["symbols"]] == ["DMARC_PASS"]
    assert subject in inbox_subjects(admin, box)


def test_a_dmarc_forgery_is_flagged_and_left_out_of_inbox_and_claims(admin, mailbox, deliver, agent):
    box = mailbox()
    ham = deliver(box)
    forged = deliver(box, **FORGED)
    msg = stored(admin, box, forged)
    assert msg["spam"]["state"] == "flagged"
    assert {"DMARC_FAIL", "DMARC_POLICY_REJECT"} <= {s["name"] for s in msg["spam"]["symbols"]}
    assert msg["spam"]["score"] >= 5
    bot = agent(box)
    assert inbox_subjects(bot, box) == [ham]
    assert forged in [m["subject"] for m in bot.ok("GET", "check_inbox", mailbox=box, include_spam="true")["messages"]]
    claim = bot.ok("POST", "claim_messages", {"mailbox": box, "limit": 10})
    assert [m["subject"] for m in claim["messages"]] == [ham]
    claim_all = bot.ok("POST", "claim_messages", {"mailbox": box, "limit": 10, "include_spam": True})
    assert [m["subject"] for m in claim_all["messages"]] == [forged]
    spam = bot.ok("GET", "list_spam", mailbox=box)
    [item] = spam["messages"]
    assert item["subject"] == forged and item["mailbox"] == box and item["spam"]["state"] == "flagged"
    assert spam["next_cursor"] is None


def test_gtube_is_quarantined_and_the_mailbox_threshold_decides_flagging(admin, mailbox, deliver):
    box = mailbox()
    gtube = deliver(box, body=f"Test message.\n{GTUBE}\n")
    assert stored(admin, box, gtube)["spam"]["state"] == "quarantined"
    assert admin.ok("GET", "list_spam", mailbox=box, state="quarantined")["messages"][0]["subject"] == gtube
    assert admin.ok("GET", "list_spam", mailbox=box, state="flagged")["messages"] == []
    # A lenient mailbox keeps a DMARC failure in its inbox.
    updated = admin.ok("POST", "update_mailbox", {"mailbox": box, "spam_threshold": 50})
    assert updated["spam_threshold"] == 50
    forged = deliver(box, **FORGED)
    assert stored(admin, box, forged)["spam"]["state"] is None
    assert forged in inbox_subjects(admin, box)


def test_report_and_not_spam_move_mail_and_are_audited(admin, mailbox, deliver, agent):
    box = mailbox()
    subject = deliver(box)
    msg = stored(admin, box, subject)
    bot = agent(box)
    bot.ok("GET", "read_email", message_id=msg["message_id"])  # read once
    reported = bot.ok("POST", "report_spam", {"message_id": msg["message_id"]})
    assert reported["spam"]["state"] == "quarantined" and reported["spam"]["label"] == "spam"
    assert reported["trained"] is None and "no rspamd" in reported["training"]
    assert subject not in inbox_subjects(bot, box)
    assert [m["subject"] for m in bot.ok("GET", "list_spam", mailbox=box)["messages"]] == [subject]
    released = bot.ok("POST", "not_spam", {"message_id": msg["message_id"]})
    assert released["spam"]["state"] is None and released["spam"]["label"] == "not_spam"
    assert released["read"] is False
    [back] = [m for m in bot.ok("GET", "check_inbox", mailbox=box)["messages"] if m["subject"] == subject]
    assert back["read"] is False
    actions = [e["action"] for e in admin.ok("GET", "audit_log", message_id=msg["message_id"], limit=100)["events"]]
    assert "message.reported_spam" in actions and "message.not_spam" in actions
    # not_spam on mail that is not spam only records the label.
    again = bot.ok("POST", "not_spam", {"message_id": msg["message_id"]})
    assert again["spam"]["state"] is None


def test_other_tenants_mail_is_invisible(admin, mailbox, deliver, agent):
    mine, theirs = mailbox(), mailbox()
    gtube = deliver(theirs, body=GTUBE)
    msg = stored(admin, theirs, gtube)
    me = agent(mine)
    assert me.ok("GET", "list_spam")["messages"] == []
    assert_error(me.get("list_spam", mailbox=theirs), 404, "mailbox_not_found")
    for verb in ("report_spam", "not_spam"):
        assert_error(me.post(verb, {"message_id": msg["message_id"]}), 404, "message_not_found")
    assert stored(admin, theirs, gtube)["spam"]["state"] == "quarantined"


def test_bad_input(admin, mailbox, deliver):
    box = mailbox(oversight_mode="autonomous")
    assert_error(admin.post("report_spam", {}), 400)
    assert_error(admin.post("report_spam", {"message_id": 5}), 400)
    assert_error(admin.post("report_spam", {"message_id": "msg_nope"}), 404, "message_not_found")
    assert_error(admin.post("not_spam", {"message_id": "msg_x", "extra": 1}), 400)
    assert_error(admin.get("list_spam", state="junk"), 400)
    assert_error(admin.get("list_spam", limit=0), 400)
    assert_error(admin.get("list_spam", cursor="garbage"), 400, "invalid_cursor")
    sent = admin.ok("POST", "send_email", {"from": box, "to": "lee@partner.test", "subject": "Hi", "body": "Hello."})
    assert_error(admin.post("report_spam", {"message_id": sent["message_id"]}), 400, "not_inbound")
    for bad in ("high", True, 1e9):
        assert_error(admin.post("update_mailbox", {"mailbox": box, "spam_threshold": bad}), 400)
    [row] = [m for m in admin.ok("GET", "list_mailboxes")["mailboxes"] if m["address"] == box]
    assert row["spam_threshold"] is None
