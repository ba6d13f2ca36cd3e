"""rspamd over its HTTP protocol: a real rspamd (started by the fixture) judges mail that arrives
over real SMTP; report_spam / not_spam train it for human keys only; and when rspamd is down the
mail is still accepted, with the baseline verdict, a log line and a metric."""

from __future__ import annotations

import requests

from tests.conftest import wait_for

from .conftest import GTUBE, HAM_TEXT, admin_of, inbox_subjects, key_for, message, new_mailbox, smtp_send, stored


def test_gtube_is_rejected_by_rspamd_and_quarantined(rspamd_server):
    admin = admin_of(rspamd_server)
    box = new_mailbox(admin)
    subject, raw = message(box, body=f"Buy now.\n{GTUBE}\n")
    smtp_send(rspamd_server.smtp_port, box, raw)
    msg = stored(admin, box, subject)
    assert msg["spam"]["source"] == "rspamd"
    assert msg["spam"]["action"] == "reject"
    assert msg["spam"]["state"] == "quarantined"
    assert "GTUBE" in [s["name"] for s in msg["spam"]["symbols"]]
    assert subject not in inbox_subjects(admin, box)


def test_ordinary_mail_passes_rspamd(rspamd_server):
    admin = admin_of(rspamd_server)
    box = new_mailbox(admin)
    subject, raw = message(box)
    smtp_send(rspamd_server.smtp_port, box, raw)
    msg = stored(admin, box, subject)
    assert msg["spam"]["source"] == "rspamd"
    assert msg["spam"]["state"] is None, msg["spam"]
    assert msg["spam"]["action"] not in ("reject", "add header", "rewrite subject")
    assert subject in inbox_subjects(admin, box)


def test_only_human_keys_train_rspamd(rspamd_server):
    admin = admin_of(rspamd_server)
    box = new_mailbox(admin)
    subject, raw = message(box, body=HAM_TEXT + "\nA second paragraph: the supplier contract needs two signatures.")
    smtp_send(rspamd_server.smtp_port, box, raw)
    msg = stored(admin, box, subject)
    agent, approver = key_for(admin, "agent", box), key_for(admin, "approver", box)
    by_agent = agent.ok("POST", "report_spam", {"message_id": msg["message_id"]})
    assert by_agent["trained"] is False and "agent keys" in by_agent["training"]
    assert by_agent["spam"]["state"] == "quarantined"
    by_human = approver.ok("POST", "not_spam", {"message_id": msg["message_id"]})
    assert by_human["spam"]["state"] is None
    assert by_human["trained"] is True, by_human["training"]
    [event] = admin.ok("GET", "audit_log", message_id=msg["message_id"], action="message.not_spam")["events"]
    assert event["details"]["trained"] is True


def test_rspamd_down_still_accepts_with_the_baseline(rspamd_down_server):
    admin = admin_of(rspamd_down_server)
    box = new_mailbox(admin)
    subject, raw = message(box, body=f"Hello.\n{GTUBE}\n")
    smtp_send(rspamd_down_server.smtp_port, box, raw)
    msg = stored(admin, box, subject)
    assert msg["spam"]["source"] == "baseline"
    assert msg["spam"]["state"] == "quarantined"
    ham_subject, ham = message(box)
    smtp_send(rspamd_down_server.smtp_port, box, ham)
    assert stored(admin, box, ham_subject)["spam"]["state"] is None
    assert "rspamd did not answer" in wait_for(lambda: "rspamd did not answer" in rspamd_down_server.log()
                                               and rspamd_down_server.log(), what="the log line")
    metrics = requests.get(rspamd_down_server.base + "/metrics", headers={"Authorization": f"Bearer {admin.key}"}, timeout=30).text
    assert 'multimail_spam_checks_total{outcome="rspamd_unavailable",source="baseline"} 2.0' in metrics
