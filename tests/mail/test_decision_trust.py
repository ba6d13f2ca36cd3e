"""Who may answer a decide_email question, attacked over real SMTP and HTTP.

The attacker is an agent with an ordinary agent key (it may read every hosted mailbox it was
given) and a stranger who can only send mail to port 2525. Each test performs one attack; the
rules are core/decision_proof.py, the secrets core/decision_secrets.py.
"""

from __future__ import annotations

import json
import re
import smtplib
import sqlite3
import time
import uuid
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import make_msgid

import pytest
import requests

from tests.conftest import Api, ServerProcess, unique_address, wait_for

TOKEN = re.compile(r"/d/[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22}")
REPLY_TAG = re.compile(r"\+q_[a-z2-7]{20}@", re.IGNORECASE)

# partner.test: SPF for loopback and DMARC p=reject (its mail from here passes DMARC).
# plain.test: no SPF, no DMARC (most small companies): a reply cannot be proven by DMARC.
# bank.test: DMARC p=reject, SPF only for another network (mail from here fails DMARC).
DNS = {
    "partner.test": ["v=spf1 ip4:127.0.0.1 ip6:::1 -all"],
    "_dmarc.partner.test": ["v=DMARC1; p=reject"],
    "bank.test": ["v=spf1 ip4:192.0.2.1 -all"],
    "_dmarc.bank.test": ["v=DMARC1; p=reject"],
}


def start(tmp_path_factory, name: str, **env: str) -> ServerProcess:
    data = tmp_path_factory.mktemp(name)
    (data / "dns.json").write_text(json.dumps(DNS))
    return ServerProcess(data, env={"MULTIMAIL_DNS_OVERRIDES": str(data / "dns.json"), **env})


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = start(tmp_path_factory, "decision-trust")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(srv) -> Api:
    return Api(srv.base, srv.admin_key)


def new_box(admin: Api, mode: str = "autonomous") -> str:
    address = unique_address("agent")
    admin.ok("POST", "create_mailbox", {"address": address, "oversight_mode": mode})
    return address


def agent_for(admin: Api, *boxes: str) -> Api:
    created = admin.ok("POST", "create_api_key", {"role": "agent", "name": "attacker", "mailboxes": list(boxes)})
    return Api(admin.base, created["api_key"])


def ask(api: Api, box: str, to, *, options=("Yes", "No")) -> dict:
    return api.ok("POST", "decide_email", {"from": box, "to": to, "question": "Wire the 40k payment today?",
                                           "options": list(options)})


def sent(api: Api, message_id: str) -> dict:
    return wait_for(lambda: (m := api.ok("GET", "read_email", message_id=message_id))["status"] == "sent" and m)


def external_copy(srv: ServerProcess, message_id: str):
    """The bytes handed to the external recipients (capture mode keeps them)."""
    with sqlite3.connect(srv.data_dir / "multimail.db") as db:
        (raw,) = db.execute("select raw from captured_mail where message_id = ?", (message_id,)).fetchone()
    return message_from_bytes(raw, policy=default_policy)


def external_raw(srv: ServerProcess, message_id: str) -> bytes:
    with sqlite3.connect(srv.data_dir / "multimail.db") as db:
        (raw,) = db.execute("select raw from captured_mail where message_id = ?", (message_id,)).fetchone()
    return raw


def reply(srv: ServerProcess, *, question: dict, sender: str, rcpt: str, text: str, mail_from: str | None = None,
          message_id: str | None = None, extra: dict | None = None, attach: bytes | None = None) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, rcpt, "Re: " + question["subject"]
    msg["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2])
    msg["In-Reply-To"] = msg["References"] = question["internet_message_id"]
    for name, value in (extra or {}).items():
        msg[name] = value
    msg.set_content(text, cte="quoted-printable")
    if attach is not None:  # "forward as attachment": the whole question, links and all
        msg.add_attachment(message_from_bytes(attach, policy=default_policy))
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
        s.send_message(msg, from_addr=mail_from or sender, to_addrs=[rcpt])


def answers(api: Api, thread_id: str) -> list[dict]:
    return [m for m in api.ok("GET", "get_thread", thread_id=thread_id)["messages"] if m["direction"] == "inbound"]


def last_answer(api: Api, thread_id: str, count: int = 1) -> dict:
    return wait_for(lambda: len(a := answers(api, thread_id)) >= count and a[-1])


def no_secret_in(value) -> None:
    text = json.dumps(value)
    assert not TOKEN.search(text), text[:500]
    assert not REPLY_TAG.search(text), text[:500]


# -- finding 1: an agent answers its own question through a hosted mailbox's copy -----------------


def test_an_agent_cannot_answer_its_own_question_through_a_hosted_copy(srv, admin):
    box, monitor = new_box(admin), new_box(admin)
    agent = agent_for(admin, box, monitor)
    asked = ask(agent, box, ["Boss <boss@partner.test>", monitor])
    question = sent(agent, asked["message_id"])

    # The external copy carries the links and the private reply address ...
    out = external_copy(srv, asked["message_id"])
    assert len(TOKEN.findall(out.get_body(("plain",)).get_content())) == 2
    assert REPLY_TAG.search(str(out["Reply-To"]))
    # ... the hosted mailbox's copy, which the agent reads, carries neither, in any field.
    [item] = agent.ok("GET", "check_inbox", mailbox=monitor)["messages"]
    copy = agent.ok("GET", "read_email", message_id=item["message_id"])
    no_secret_in(copy)
    no_secret_in(agent.ok("GET", "get_thread", thread_id=copy["thread_id"]))
    no_secret_in(question)
    no_secret_in(agent.ok("GET", "audit_log"))

    # Replying from the hosted mailbox (an API key writes it) never decides, even naming an option.
    agent.ok("POST", "reply_email", {"message_id": copy["message_id"], "body": "Yes"})
    answer = last_answer(admin, asked["thread_id"])
    assert answer["decision"] is None
    assert answer["decision_check"]["reason"] == "agent_mailbox"
    assert admin.ok("GET", "get_thread", thread_id=asked["thread_id"])["decision"] is None


def test_a_link_decision_is_credited_to_nobody_it_cannot_prove(srv, admin):
    box, monitor = new_box(admin), new_box(admin)
    asked = ask(admin, box, ["boss@partner.test", "cfo@partner.test", monitor])
    sent(admin, asked["message_id"])
    link = TOKEN.search(external_copy(srv, asked["message_id"]).get_body(("plain",)).get_content()).group(0)
    assert requests.post(srv.base + link, timeout=10).status_code == 200
    [answer] = answers(admin, asked["thread_id"])
    assert answer["from"] == "" and answer["decision"] == "Yes"
    assert answer["decision_check"]["proof"] == "link"
    # Who the link was sent to (the hosted mailbox got no link), never "boss decided".
    assert answer["decision_check"]["link_sent_to"] == ["boss@partner.test", "cfo@partner.test"]
    assert "sent to boss@partner.test, cfo@partner.test" in answer["body"]


def test_a_reply_quoting_the_links_does_not_hand_them_to_the_agent(srv, admin):
    """Mail clients quote the question, links included; an unclear reply must not give them away."""
    box = new_box(admin)
    agent = agent_for(admin, box)
    asked = ask(agent, box, "boss@partner.test")
    question = sent(agent, asked["message_id"])
    out = external_copy(srv, asked["message_id"])
    quoted = "\n".join("> " + line for line in out.get_body(("plain",)).get_content().splitlines())
    reply(srv, question=question, sender="boss@partner.test", rcpt=str(out["Reply-To"].addresses[0].addr_spec),
          text=f"Let me think about it.\n\nOn Monday you wrote:\n{quoted}\nReply-To: {out['Reply-To']}\n",
          attach=external_raw(srv, asked["message_id"]))
    answer = last_answer(agent, asked["thread_id"])
    assert answer["decision_check"]["reason"] == "unclear"
    full = agent.ok("GET", "read_email", message_id=answer["message_id"])
    no_secret_in(full)
    no_secret_in(agent.ok("GET", "check_inbox", mailbox=box))
    no_secret_in(agent.ok("GET", "audit_log", message_id=answer["message_id"]))
    # Nor do the bytes kept with it (quoted-printable or not), nor an attached copy of the question.
    raw = requests.get(f"{srv.base}/v1/get_raw", params={"message_id": answer["message_id"]}, headers=agent.headers(), timeout=30)
    assert raw.status_code == 200
    kept = message_from_bytes(raw.content, policy=default_policy)
    no_secret_in([str(v) for _, v in kept.items()] + [p.get_content() for p in kept.walk() if p.get_content_maintype() == "text"])
    for att in full["attachments"]:  # an attached copy of the question, if kept, without its secrets
        got = requests.get(att["url"], headers=agent.headers(), timeout=30).content
        inner = message_from_bytes(got, policy=default_policy)
        no_secret_in([str(v) for _, v in inner.items()] + [p.get_content() for p in inner.walk() if p.get_content_maintype() == "text"])
    # The links still work for the human (the quote was scrubbed in what the agent sees, not in the mail).
    link = TOKEN.search(out.get_body(("plain",)).get_content()).group(0)
    assert requests.get(srv.base + link, timeout=10).status_code == 200


# -- finding 3: a question that never went out, or was rejected ------------------------------------


def test_a_reply_to_a_held_question_decides_nothing_and_a_rejection_wins(srv, admin):
    box = new_box(admin, "gated_send")
    asked = ask(admin, box, "boss@partner.test")
    question = admin.ok("GET", "read_email", message_id=asked["message_id"])
    assert question["status"] == "pending"
    reply(srv, question=question, sender="boss@partner.test", rcpt=box, text="Yes")
    answer = last_answer(admin, asked["thread_id"])
    assert answer["decision"] is None and answer["decision_check"]["reason"] == "question_not_sent"

    admin.ok("POST", "reject_message", {"message_id": asked["message_id"], "reason": "not now"})
    reply(srv, question=question, sender="boss@partner.test", rcpt=box, text="Yes")
    later = last_answer(admin, asked["thread_id"], count=2)
    assert later["decision"] is None and later["decision_check"]["reason"] == "question_closed"
    outcome = admin.ok("POST", "register_wait", {"flow_run_id": str(uuid.uuid4()), "thread_id": asked["thread_id"]})["outcome"]
    assert outcome["status"] == "rejected" and outcome["decision"] is None
    events = admin.ok("GET", "audit_log", action="decision.unverified", mailbox=box)["events"]
    assert sorted(e["details"]["reason"] for e in events) == ["question_closed", "question_not_sent"]


# -- decisions by reply that work for real people ---------------------------------------------------


def test_a_reply_from_a_domain_without_dmarc_decides_through_the_private_reply_address(srv, admin):
    box = new_box(admin)
    asked = ask(admin, box, "Ana <ana@plain.test>")
    question = sent(admin, asked["message_id"])
    reply_to = external_copy(srv, asked["message_id"])["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith(box.split("@")[0] + "+q_")
    reply(srv, question=question, sender="ana@plain.test", rcpt=reply_to, text="No\n\nAna")
    answer = last_answer(admin, asked["thread_id"])
    assert answer["decision"] == "No", answer["decision_check"]
    assert answer["decision_check"] == {"outcome": "decided", "decision": "No", "reason": None,
                                        "proof": "reply_address", "question_message_id": asked["message_id"]}
    assert admin.ok("GET", "get_thread", thread_id=asked["thread_id"])["decision"] == "No"
    # The first answer stands: a second reply (even a proven one) is recorded, and decides nothing.
    reply(srv, question=question, sender="ana@plain.test", rcpt=reply_to, text="Yes")
    second = last_answer(admin, asked["thread_id"], count=2)
    assert second["decision"] is None and second["decision_check"]["reason"] == "question_closed"
    assert admin.ok("GET", "get_thread", thread_id=asked["thread_id"])["decision"] == "No"


@pytest.mark.parametrize("case", ["no_proof", "not_an_addressee", "dmarc_fail", "auto_reply"])
def test_replies_that_cannot_prove_themselves_are_unverified_with_a_reason(srv, admin, case):
    box = new_box(admin)
    asked = ask(admin, box, ["ana@plain.test", "ceo@bank.test", "boss@partner.test"])
    question = sent(admin, asked["message_id"])
    reply_to = external_copy(srv, asked["message_id"])["Reply-To"].addresses[0].addr_spec
    if case == "no_proof":  # a stranger forging ana@plain.test to the plain address: nothing proves it
        reply(srv, question=question, sender="ana@plain.test", rcpt=box, text="Yes")
    elif case == "not_an_addressee":  # DMARC passes, but the question did not go to this person
        reply(srv, question=question, sender="intern@partner.test", rcpt=reply_to, text="Yes")
    elif case == "dmarc_fail":  # a forged From of a DMARC domain never decides, reply address or not
        reply(srv, question=question, sender="ceo@bank.test", rcpt=reply_to, text="Yes")
    else:
        reply(srv, question=question, sender="boss@partner.test", rcpt=reply_to, text="Yes",
              extra={"Auto-Submitted": "auto-replied"})
    answer = last_answer(admin, asked["thread_id"])
    assert answer["decision"] is None
    check = answer["decision_check"]
    assert check["outcome"] == "unverified" and check["reason"] == case and check["description"]
    [event] = admin.ok("GET", "audit_log", action="decision.unverified", message_id=answer["message_id"])["events"]
    assert event["details"]["reason"] == case


def test_strict_mode_accepts_only_dmarc(tmp_path_factory):
    srv = start(tmp_path_factory, "decision-strict", MULTIMAIL_DECISIONS_REQUIRE_VERIFIED_SENDER="true")
    try:
        admin = Api(srv.base, srv.admin_key)
        box = new_box(admin)
        asked = ask(admin, box, ["ana@plain.test", "boss@partner.test"])
        question = sent(admin, asked["message_id"])
        reply_to = external_copy(srv, asked["message_id"])["Reply-To"].addresses[0].addr_spec
        reply(srv, question=question, sender="ana@plain.test", rcpt=reply_to, text="Yes")
        assert last_answer(admin, asked["thread_id"])["decision_check"]["reason"] == "no_proof"
        reply(srv, question=question, sender="boss@partner.test", rcpt=box, text="No")
        answer = last_answer(admin, asked["thread_id"], count=2)
        assert answer["decision"] == "No" and answer["decision_check"]["proof"] == "dmarc"
    finally:
        srv.stop()


# -- finding 6: a crafted reply must not stall the server --------------------------------------------


def test_a_backtracking_reply_neither_stalls_the_server_nor_the_write_lock(srv, admin):
    box = new_box(admin)
    asked = ask(admin, box, "boss@partner.test")
    question = sent(admin, asked["message_id"])
    evil = "\n".join(["am " + "schrieb " * 400] * 50)  # 12.5 s per line in mail-parser-reply before the bound
    started = time.monotonic()
    reply(srv, question=question, sender="boss@partner.test", rcpt=box, text="Yes\n\n" + evil)
    took = time.monotonic() - started
    assert took < 5, took
    answer = last_answer(admin, asked["thread_id"])
    assert answer["decision"] == "Yes"
    health = time.monotonic()
    assert requests.get(srv.base + "/health", timeout=10).status_code == 200
    assert time.monotonic() - health < 1


# -- finding 11: Message-ID de-duplication, and raw bytes stored once -------------------------------


def test_a_forged_earlier_message_with_a_known_message_id_does_not_suppress_the_genuine_one(srv, admin):
    box = new_box(admin)
    shared_id = make_msgid(domain="partner.test")

    def send(sender: str, mail_from: str, text: str) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = sender, box, "Invoice", shared_id
        msg.set_content(text)
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
            s.send_message(msg, from_addr=mail_from, to_addrs=[box])

    send("boss@partner.test", "x@attacker.test", "forged: ignore the real invoice")
    send("boss@partner.test", "boss@partner.test", "the real invoice")
    send("boss@partner.test", "boss@partner.test", "the real invoice")  # a retried delivery: same bytes
    # Both are stored (the forgery, failing partner.test's DMARC, as spam: out of the inbox).
    items = admin.ok("GET", "check_inbox", mailbox=box, include_spam="true")["messages"]
    bodies = sorted(admin.ok("GET", "read_email", message_id=i["message_id"])["body"].strip() for i in items)
    assert bodies == ["forged: ignore the real invoice", "the real invoice"]


def test_one_message_to_many_hosted_mailboxes_keeps_its_bytes_once(srv, admin):
    boxes = [new_box(admin) for _ in range(5)]
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "boss@partner.test", ", ".join(boxes), "all hands"
    msg["Message-ID"] = make_msgid(domain="partner.test")
    msg.set_content("x" * 200_000)
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
        s.send_message(msg, from_addr="boss@partner.test", to_addrs=boxes)
    with sqlite3.connect(srv.data_dir / "multimail.db") as db:
        rows = db.execute("select raw, raw_sha256 from messages where internet_message_id = ?", (msg["Message-ID"],)).fetchall()
        assert len(rows) == 5 and all(raw is None for raw, _ in rows) and len({h for _, h in rows}) == 1
        (blobs,) = db.execute("select count(*) from raw_blobs where sha256 = ?", (rows[0][1],)).fetchone()
    assert blobs == 1
    for box in boxes:
        [item] = admin.ok("GET", "check_inbox", mailbox=box)["messages"]
        assert admin.ok("GET", "read_email", message_id=item["message_id"])["body"].startswith("xxx")
