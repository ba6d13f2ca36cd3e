"""Approvals by email, over real HTTP and real SMTP, on SQLite and PostgreSQL.

A mailbox names its approvers by address; a held message sends each a notice (captured by the
server's capture transport, read back from its database) with a signed single-use link to a
confirmation page and a private reply address. The attackers: a link scanner (GET), a stranger
on port 2525, a forged sender (DMARC fail), an agent reading its own mailbox.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import time
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import make_msgid

import pytest
import requests
import sqlalchemy as sa

from tests.conftest import PG_ENV, Api, ServerProcess, fresh_pg_database, require_service, unique_address, wait_for

LINK = re.compile(r"https?://[^\s\"<>]+(/a/[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22})")
TAG = re.compile(r"\+a_[a-z2-7]{20}@", re.IGNORECASE)
LINK_TTL = 6

# partner.test and bank.test as in tests/mail/test_decision_trust.py; plain.test has no DMARC.
DNS = {
    "partner.test": ["v=spf1 ip4:127.0.0.1 ip6:::1 -all"],
    "_dmarc.partner.test": ["v=DMARC1; p=reject"],
    "bank.test": ["v=spf1 ip4:192.0.2.1 -all"],
    "_dmarc.bank.test": ["v=DMARC1; p=reject"],
}
ENV = {"MULTIMAIL_APPROVAL_POLL_SECONDS": "0.2", "MULTIMAIL_DELIVERY_POLL_SECONDS": "0.2",
       "MULTIMAIL_ALLOW_APPROVE_ON_TIMEOUT": "true", "MULTIMAIL_APPROVAL_LINK_TTL_SECONDS": str(LINK_TTL),
       "MULTIMAIL_DIGEST_PERIOD_SECONDS": "3", "MULTIMAIL_RATE_LIMIT_ENABLED": "false"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(request, tmp_path_factory):
    data = tmp_path_factory.mktemp(f"approvals-{request.param}")
    (data / "dns.json").write_text(json.dumps(DNS))
    env = {"MULTIMAIL_DNS_OVERRIDES": str(data / "dns.json"), **ENV}
    if request.param == "sqlite":
        server = ServerProcess(data, env=env)
        yield server
        server.stop()
        return
    require_service("PostgreSQL", bool(os.environ.get(PG_ENV)), f"set {PG_ENV}")
    with fresh_pg_database("mm_appr") as url:
        server = ServerProcess(data, database_url=url, env=env)
        yield server
        server.stop()


@pytest.fixture(scope="module")
def admin(srv) -> Api:
    return Api(srv.base, srv.admin_key)


def engine(srv: ServerProcess):
    url = srv.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    return sa.create_engine(url)


def captured(srv: ServerProcess, message_id: str):
    """The bytes handed to external recipients (the capture transport keeps them)."""
    eng = engine(srv)
    try:
        with eng.connect() as db:
            raw = db.execute(sa.text("select raw from captured_mail where message_id = :m"), {"m": message_id}).scalar()
    finally:
        eng.dispose()
    return message_from_bytes(raw, policy=default_policy) if raw is not None else None


def box(admin: Api, mode: str = "gated_send", **policy) -> str:
    address = unique_address("appr")
    admin.ok("POST", "create_mailbox", {"address": address, "oversight_mode": mode, **policy})
    return address


def agent(admin: Api, *boxes: str) -> Api:
    return Api(admin.base, admin.ok("POST", "create_api_key", {"role": "agent", "name": "agent", "mailboxes": list(boxes)})["api_key"])


def held(api: Api, sender: str, subject: str = "Quarterly numbers", **extra) -> dict:
    sent = api.ok("POST", "send_email", {"from": sender, "to": "client@partner.test", "subject": subject,
                                         "body": "Here are the numbers.", **extra})
    assert sent["status"] == "pending", sent
    return sent


def notices(admin: Api, message_id: str, count: int) -> list[dict]:
    """The notices queued for the held message, once they went out (read_email of each)."""
    def found():
        events = sorted(admin.ok("GET", "audit_log", message_id=message_id, limit=100)["events"], key=lambda e: e["at"])
        ids = [n for e in events if e["action"] == "approval.notified" for n in e["details"]["notices"]]
        if len(ids) < count:
            return None
        msgs = [admin.ok("GET", "read_email", message_id=i) for i in ids]
        return msgs if all(m["status"] == "sent" for m in msgs) else None

    return wait_for(found, timeout=15, what=f"{count} notices of {message_id}")


def link_of(srv: ServerProcess, notice: dict) -> str:
    mail = captured(srv, notice["message_id"])
    assert mail is not None
    m = LINK.search(mail.get_body(("plain",)).get_content())
    assert m, "no approval link in the external copy"
    return srv.base + m.group(1)


def pending(admin: Api, message_id: str) -> dict:
    return admin.ok("GET", "list_pending", message_id=message_id)["messages"][0]


def status(admin: Api, message_id: str, want: str) -> dict:
    return wait_for(lambda: (m := admin.ok("GET", "read_email", message_id=message_id))["status"] == want and m,
                    timeout=15, what=f"{message_id} {want}")


def send_reply(srv: ServerProcess, *, notice: dict, sender: str, rcpt: str, text: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, rcpt, "Re: " + notice["subject"]
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    msg["In-Reply-To"] = msg["References"] = notice["internet_message_id"]
    msg.set_content(text + "\n\n> " + notice["body"].replace("\n", "\n> "))
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
        s.send_message(msg, from_addr=sender, to_addrs=[rcpt])


def audit_actions(admin: Api, message_id: str) -> list[dict]:
    return admin.ok("GET", "audit_log", message_id=message_id, limit=100)["events"]


def test_notice_link_scanner_confirm_and_reuse(srv, admin):
    hosted = box(admin, "autonomous")
    sender = box(admin, approvers=["boss@partner.test", hosted])
    bot = agent(admin, sender)
    sent = held(bot, sender, attachments=[{"filename": "numbers.csv", "content_type": "text/csv", "content_base64": "YSxiCjEsMgo="}])
    external, internal = sorted(notices(admin, sent["message_id"], 2), key=lambda n: n["to"][0] != "boss@partner.test")
    mail = captured(srv, external["message_id"])
    text = mail.get_body(("plain",)).get_content()
    # The message as it will go out: its headers, text and attachments by name.
    assert "Subject: Quarterly numbers" in text and "To: client@partner.test" in text
    assert "Here are the numbers." in text and "numbers.csv (text/csv" in text
    assert LINK.search(text) and TAG.search(mail["Reply-To"])
    # The agent (and the hosted approver's mailbox, read by a key) never see a link or the reply tag.
    for view in (bot.ok("GET", "read_email", message_id=external["message_id"]), internal):
        assert not LINK.search(json.dumps(view)) and not TAG.search(json.dumps(view))
    hosted_copy = wait_for(lambda: [m for m in admin.ok("GET", "check_inbox", mailbox=hosted)["messages"]
                                    if m["subject"].startswith("Approval needed")])
    full = admin.ok("GET", "read_email", message_id=hosted_copy[0]["message_id"])
    assert "Quarterly numbers" in full["body"] and not LINK.search(json.dumps(full)) and not TAG.search(json.dumps(full))
    raw = requests.get(f"{srv.base}/v1/get_raw", params={"message_id": external["message_id"]},
                       headers=bot.headers(), timeout=10)
    assert raw.status_code == 200 and not LINK.search(raw.text) and not TAG.search(raw.text)

    url = link_of(srv, external)
    for _ in range(2):  # a scanner prefetching the link approves nothing
        page = requests.get(url, timeout=10)
        assert page.status_code == 200 and 'method="post"' in page.text and "Quarterly numbers" in page.text
        assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in page.headers["content-security-policy"]
    requests.head(url, timeout=10)
    assert pending(admin, sent["message_id"])["status"] == "pending"

    done = requests.post(url, data={"action": "approve"}, timeout=10)
    assert done.status_code == 200 and "approved" in done.text.lower()
    sent_msg = status(admin, sent["message_id"], "sent")
    assert sent_msg["approval_status"] == "approved"
    approved = [e for e in audit_actions(admin, sent["message_id"]) if e["action"] == "message.approved"][0]
    assert approved["actor"] == "boss@partner.test" and approved["details"]["via"] == "approval_link"
    # Used: a second POST (approve or reject) changes nothing and says so.
    again = requests.post(url, data={"action": "reject", "reason": "late"}, timeout=10)
    assert again.status_code == 409 and "already used" in again.text
    assert admin.ok("GET", "read_email", message_id=sent["message_id"])["approval_status"] == "approved"


def test_stale_version_and_expired_links_change_nothing(srv, admin):
    sender = box(admin, approvers=["boss@partner.test"])
    sent = held(agent(admin, sender), sender)
    (first,) = notices(admin, sent["message_id"], 1)
    old_url = link_of(srv, first)
    admin.ok("POST", "edit_message", {"message_id": sent["message_id"], "subject": "Quarterly numbers (fixed)"})
    r = requests.post(old_url, data={"action": "approve"}, timeout=10)
    assert r.status_code == 409 and "changed" in r.text.lower()
    assert pending(admin, sent["message_id"])["status"] == "pending"
    # The edit sent a notice for the new version; its link rejects, with the reason.
    _, second = notices(admin, sent["message_id"], 2)
    assert "(fixed)" in second["body"]
    r = requests.post(link_of(srv, second), data={"action": "reject", "reason": "numbers are wrong"}, timeout=10)
    assert r.status_code == 200
    item = pending(admin, sent["message_id"])
    assert item["status"] == "rejected" and item["decision_note"] == "numbers are wrong"
    assert item["decided_by"] == "boss@partner.test"

    sent2 = held(agent(admin, sender), sender, subject="Expiring")
    (n,) = notices(admin, sent2["message_id"], 1)
    url = link_of(srv, n)
    time.sleep(LINK_TTL + 0.5)
    r = requests.post(url, data={"action": "approve"}, timeout=10)
    assert r.status_code == 410 and "expired" in r.text.lower()
    assert pending(admin, sent2["message_id"])["status"] == "pending"


def test_reply_approve_with_dmarc_pass(srv, admin):
    sender = box(admin, approvers=["boss@partner.test"])
    sent = held(agent(admin, sender), sender)
    (n,) = notices(admin, sent["message_id"], 1)
    send_reply(srv, notice=n, sender="boss@partner.test", rcpt=sender, text="Approve")
    msg = status(admin, sent["message_id"], "sent")
    assert msg["approval_status"] == "approved"
    event = [e for e in audit_actions(admin, sent["message_id"]) if e["action"] == "message.approved"][0]
    assert event["actor"] == "boss@partner.test" and event["details"]["proof"] == "dmarc"


def test_reply_to_private_address_rejects_with_reason(srv, admin):
    sender = box(admin, approvers=["ceo@plain.test"])
    sent = held(agent(admin, sender), sender)
    (n,) = notices(admin, sent["message_id"], 1)
    # Without DMARC, a reply to the notice's ordinary address proves nothing ...
    send_reply(srv, notice=n, sender="ceo@plain.test", rcpt=sender, text="reject too long")
    refused = wait_for(lambda: [e for e in audit_actions(admin, sent["message_id"]) if e["action"] == "approval.reply_refused"])
    assert refused[0]["details"]["reason"] == "no_proof"
    assert pending(admin, sent["message_id"])["status"] == "pending"
    # ... one to its private reply address (the Reply-To only the approver got) does.
    reply_to = captured(srv, n["message_id"])["Reply-To"]
    send_reply(srv, notice=n, sender="ceo@plain.test", rcpt=str(reply_to), text="reject too long")
    item = wait_for(lambda: (p := pending(admin, sent["message_id"]))["status"] == "rejected" and p)
    assert item["decision_note"] == "too long" and item["decided_by"] == "ceo@plain.test"
    # The link of that notice now says the message was decided, and changes nothing.
    page = requests.post(link_of(srv, n), data={"action": "approve"}, timeout=10)
    assert page.status_code == 409 and "already decided" in page.text.lower()
    assert pending(admin, sent["message_id"])["status"] == "rejected"


def test_reply_from_a_stranger_or_failing_dmarc_does_nothing(srv, admin):
    sender = box(admin, approvers=["boss@partner.test", "cfo@bank.test"])
    sent = held(agent(admin, sender), sender)
    ns = notices(admin, sent["message_id"], 2)
    boss = next(n for n in ns if n["to"] == ["boss@partner.test"])
    cfo = next(n for n in ns if n["to"] == ["cfo@bank.test"])
    send_reply(srv, notice=boss, sender="intern@partner.test", rcpt=sender, text="approve")
    send_reply(srv, notice=cfo, sender="cfo@bank.test", rcpt=str(captured(srv, cfo["message_id"])["Reply-To"]), text="approve")
    refused = wait_for(lambda: len(r := [e for e in audit_actions(admin, sent["message_id"])
                                         if e["action"] == "approval.reply_refused"]) >= 2 and r)
    assert sorted(e["details"]["reason"] for e in refused) == ["dmarc_fail", "not_an_addressee"]
    time.sleep(0.5)
    assert pending(admin, sent["message_id"])["status"] == "pending"


def test_n_of_m_with_email_approvers(srv, admin):
    sender = box(admin, approvers=["boss@partner.test", "ceo@plain.test"], approvals_required=2)
    sent = held(agent(admin, sender), sender)
    ns = notices(admin, sent["message_id"], 2)
    urls = {n["to"][0]: link_of(srv, n) for n in ns}
    r = requests.post(urls["boss@partner.test"], data={"action": "approve"}, timeout=10)
    assert r.status_code == 200 and "recorded" in r.text.lower()
    item = pending(admin, sent["message_id"])
    assert item["status"] == "pending" and [a["by"] for a in item["approvals"]] == ["boss@partner.test"]
    assert item["approvals_required"] == 2
    assert requests.post(urls["ceo@plain.test"], data={"action": "approve"}, timeout=10).status_code == 200
    msg = status(admin, sent["message_id"], "sent")
    assert msg["approval_status"] == "approved"
    assert [a["by"] for a in pending(admin, sent["message_id"])["approvals"]] == ["boss@partner.test", "ceo@plain.test"]


def test_timeout_reject(srv, admin):
    sender = box(admin, approvers=["boss@partner.test"], approval_timeout=1, on_timeout="reject")
    sent = held(agent(admin, sender), sender)
    item = wait_for(lambda: (p := pending(admin, sent["message_id"]))["status"] == "rejected" and p, timeout=15)
    assert item["decision_note"] == "approval timed out" and item["decided_by"] == "timeout"
    assert [e["action"] for e in audit_actions(admin, sent["message_id"])].count("message.rejected") == 1


def test_timeout_escalates_then_rejects(srv, admin):
    sender = box(admin, approvers=["boss@partner.test"], approval_timeout=2, on_timeout="escalate",
                 escalate_to=["ceo@plain.test"])
    sent = held(agent(admin, sender), sender)
    ns = notices(admin, sent["message_id"], 2)
    assert [n["to"] for n in ns] == [["boss@partner.test"], ["ceo@plain.test"]]
    assert "did not answer in time" in ns[1]["body"]
    assert pending(admin, sent["message_id"])["escalated"] is True
    item = wait_for(lambda: (p := pending(admin, sent["message_id"]))["status"] == "rejected" and p, timeout=15)
    assert item["decision_note"].startswith("approval timed out")
    actions = [e["action"] for e in audit_actions(admin, sent["message_id"])]
    assert actions.count("message.escalated") == 1 and actions.count("message.rejected") == 1


def test_timeout_approve_where_allowed(srv, admin):
    sender = box(admin, approvers=["boss@partner.test"], approval_timeout=1, on_timeout="approve")
    sent = held(agent(admin, sender), sender)
    msg = status(admin, sent["message_id"], "sent")
    assert msg["approval_status"] == "approved"
    assert pending(admin, sent["message_id"])["decided_by"] == "timeout"


def test_a_call_sets_its_own_timeout_but_an_agent_cannot_loosen(srv, admin):
    sender = box(admin, approvers=["boss@partner.test"])
    bot = agent(admin, sender)
    r = bot.post("send_email", {"from": sender, "to": "x@partner.test", "subject": "s", "body": "b",
                                "approval_timeout": 1, "on_timeout": "approve"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "oversight_floor"
    sent = held(bot, sender, approval_timeout=1, on_timeout="reject")
    item = wait_for(lambda: (p := pending(admin, sent["message_id"]))["status"] == "rejected" and p, timeout=15)
    assert item["decision_note"] == "approval timed out"


def test_monitored_digest_goes_out_once(srv, admin):
    sender = box(admin, "monitored", approvers=["boss@partner.test"], digest="hourly")
    bot = agent(admin, sender)
    ids = [bot.ok("POST", "send_email", {"from": sender, "to": "x@partner.test", "subject": f"Report {i}", "body": "b"})["message_id"]
           for i in range(2)]
    for i in ids:
        status(admin, i, "sent")

    def digests():
        return [e for e in admin.ok("GET", "audit_log", mailbox=sender, limit=100)["events"] if e["action"] == "approval.digest_queued"]

    found = wait_for(lambda: (d := digests()) and sum(len(e["details"]["message_ids"]) for e in d) >= 2 and d, timeout=20)
    covered = [m for e in found for m in e["details"]["message_ids"]]
    assert sorted(covered) == sorted(ids)  # each message once
    digest_id = found[0]["details"]["digests"][0]
    text = status(admin, digest_id, "sent")["body"]
    assert "Report" in text
    time.sleep(4)  # another period passes with nothing sent: no empty digest, nothing repeated
    assert sorted(m for e in digests() for m in e["details"]["message_ids"]) == sorted(ids)


def test_kill_switch_holds_the_mail_not_the_approvers_notices(srv, admin):
    sender = box(admin, approvers=["boss@partner.test"])
    admin.ok("POST", "pause_outbound", {"mailbox": sender})
    try:
        sent = held(agent(admin, sender), sender)
        (n,) = notices(admin, sent["message_id"], 1)  # the notice still reaches the approver
        assert requests.post(link_of(srv, n), data={"action": "approve"}, timeout=10).status_code == 200
        time.sleep(1.0)
        assert admin.ok("GET", "read_email", message_id=sent["message_id"])["status"] == "queued"
    finally:
        admin.ok("POST", "resume_outbound", {"mailbox": sender})
    status(admin, sent["message_id"], "sent")


def test_two_servers_on_one_database_apply_each_timeout_once(srv, admin, tmp_path):
    """Both servers' approval workers see the same due timeouts; FOR UPDATE SKIP LOCKED and the
    compare-and-set on the approval status let exactly one act on each, at each step."""
    if not srv.database_url.startswith("postgresql"):
        pytest.skip("several servers share one database on PostgreSQL")
    (tmp_path / "dns.json").write_text(json.dumps(DNS))
    second = ServerProcess(tmp_path, database_url=srv.database_url,
                           env={"MULTIMAIL_DNS_OVERRIDES": str(tmp_path / "dns.json"), **ENV})
    try:
        sender = box(admin, approvers=["boss@partner.test"], approval_timeout=1, on_timeout="escalate",
                     escalate_to=["ceo@plain.test"])
        bot = agent(admin, sender)
        ids = [held(bot, sender, subject=f"Race {i}")["message_id"] for i in range(4)]
        for i in ids:
            wait_for(lambda i=i: pending(admin, i)["status"] == "rejected", timeout=20)
        for i in ids:
            actions = [e["action"] for e in audit_actions(admin, i)]
            assert actions.count("message.escalated") == 1 and actions.count("message.rejected") == 1, actions
            assert actions.count("approval.notified") == 2, actions
    finally:
        second.stop()


def test_no_approval_reaches_an_address_suppressed_while_the_message_was_held(srv, admin):
    """A bounce or complaint about an earlier message can put a held message's recipient on the
    suppression list: a link, a reply or the clock must not approve the send to it (as the API's
    approve_message refuses it with 409 suppressed), and nothing is sent."""
    sender = box(admin, approvers=["boss@partner.test"])
    sent = held(agent(admin, sender), sender)
    (n,) = notices(admin, sent["message_id"], 1)
    admin.ok("POST", "add_suppression", {"mailbox": sender, "address": "CLIENT@partner.test", "detail": "hard bounce by hand"})
    r = requests.post(link_of(srv, n), data={"action": "approve"}, timeout=10)
    assert r.status_code == 409 and "Recipient suppressed" in r.text and "hard bounce by hand" in r.text
    send_reply(srv, notice=n, sender="boss@partner.test", rcpt=sender, text="Approve")
    refused = wait_for(lambda: [e for e in audit_actions(admin, sent["message_id"]) if e["action"] == "approval.reply_refused"],
                       timeout=15, what="the approving reply to be refused")
    assert refused[0]["details"]["reason"] == "suppressed"
    assert pending(admin, sent["message_id"])["status"] == "pending"
    assert captured(srv, sent["message_id"]) is None

    timed = box(admin, approvers=["boss@partner.test"], approval_timeout=3, on_timeout="approve")
    late = held(agent(admin, timed), timed)
    admin.ok("POST", "add_suppression", {"mailbox": timed, "address": "client@partner.test"})
    item = wait_for(lambda: (p := pending(admin, late["message_id"]))["status"] == "rejected" and p, timeout=20)
    assert item["decided_by"] == "timeout" and "suppression list" in item["decision_note"]
    assert captured(srv, late["message_id"]) is None
