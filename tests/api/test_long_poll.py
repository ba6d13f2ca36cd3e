"""The `wait` long-poll of list_pending and get_thread over real HTTP: a waiter is answered
within about a second of the change (an approval by another client, a decision arriving by SMTP
reply, an approval made on ANOTHER server process sharing PostgreSQL), and after `wait` seconds
when nothing happens; parked waiters hold no worker thread, so other requests stay fast."""

from __future__ import annotations

import smtplib
import threading
import time
import uuid

import pytest
import requests

from .helpers import assert_error, wait_status
from .pg_pair import pg_pair

WAKE_LIMIT = 2.0  # seconds from the change to the waiter's answer


class Waiter:
    """Runs one long-poll GET on a thread; records when its answer came."""

    def __init__(self, api, verb: str, **params):
        self.answer: requests.Response | None = None
        self.done_at: float | None = None
        self.started = time.monotonic()

        def run():
            self.answer = requests.get(f"{api.base}/v1/{verb}", params=params, headers=api.headers(), timeout=90)
            self.done_at = time.monotonic()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def result(self, timeout: float = 90) -> dict:
        self.thread.join(timeout)
        assert self.answer is not None, "the long-poll never answered"
        assert self.answer.status_code == 200, self.answer.text
        return self.answer.json()


def held(api, box: str, subject: str | None = None) -> dict:
    return api.ok("POST", "send_email", {"from": box, "to": "someone@partner.test", "subject": subject or "needs approval", "body": "b"})


def test_approval_by_another_client_wakes_list_pending_waiter(mailbox, agent, approver):
    box = mailbox(oversight_mode="gated_send")
    sent = held(agent(box), box)
    waiter = Waiter(agent(box), "list_pending", message_id=sent["message_id"], wait=20)
    time.sleep(0.7)  # the waiter is parked
    assert waiter.answer is None, "answered before anything happened"
    approved_at = time.monotonic()
    approver(box).ok("POST", "approve_message", {"message_id": sent["message_id"]})
    answer = waiter.result()
    latency = waiter.done_at - approved_at
    print(f"list_pending wake-up latency (same server): {latency * 1000:.0f} ms")
    assert latency < WAKE_LIMIT, latency
    [item] = answer["messages"]
    assert (item["message_id"], item["status"]) == (sent["message_id"], "approved")


@pytest.mark.parametrize("verb", ["reject_message", "cancel_message"])
def test_rejection_and_cancellation_also_wake(mailbox, agent, approver, verb):
    box = mailbox(oversight_mode="gated_send")
    sent = held(agent(box), box)
    waiter = Waiter(agent(box), "list_pending", message_id=sent["message_id"], wait=20)
    time.sleep(0.3)
    acted_at = time.monotonic()
    approver(box).ok("POST", verb, {"message_id": sent["message_id"]})
    assert waiter.result()["messages"][0]["status"] == {"reject_message": "rejected", "cancel_message": "cancelled"}[verb]
    assert waiter.done_at - acted_at < WAKE_LIMIT


def test_wait_runs_out_when_nothing_happens(mailbox, agent):
    box = mailbox(oversight_mode="gated_send")
    api = agent(box)
    sent = held(api, box)
    start = time.monotonic()
    answer = api.ok("GET", "list_pending", message_id=sent["message_id"], wait=1)
    elapsed = time.monotonic() - start
    assert 0.95 <= elapsed < 5.0, elapsed
    assert answer["messages"][0]["status"] == "pending"
    thread_start = time.monotonic()
    thread = api.ok("GET", "get_thread", thread_id=sent["thread_id"], wait=1)
    assert 0.95 <= time.monotonic() - thread_start < 5.0
    assert [m["message_id"] for m in thread["messages"]] == [sent["message_id"]]


def test_already_decided_answers_at_once(mailbox, agent, approver):
    box = mailbox(oversight_mode="gated_send")
    api = agent(box)
    sent = held(api, box)
    approver(box).ok("POST", "reject_message", {"message_id": sent["message_id"]})
    start = time.monotonic()
    assert api.ok("GET", "list_pending", message_id=sent["message_id"], wait=20)["messages"][0]["status"] == "rejected"
    # A message that was never held has nothing to wait for.
    free = mailbox(oversight_mode="autonomous")
    direct = agent(free).ok("POST", "send_email", {"from": free, "to": "x@partner.test", "subject": "s", "body": "b"})
    assert agent(free).ok("GET", "list_pending", message_id=direct["message_id"], wait=20) == {"messages": []}
    assert time.monotonic() - start < 5.0  # far below the 20 s wait: it answered at once


def test_list_pending_without_message_id_waits_for_any_change(mailbox, agent):
    box = mailbox(oversight_mode="gated_send")
    api = agent(box)
    held(api, box, "first")
    waiter = Waiter(api, "list_pending", mailbox=box, wait=20)
    time.sleep(0.5)
    assert waiter.answer is None
    created_at = time.monotonic()
    second = held(api, box, "second")
    answer = waiter.result()
    assert waiter.done_at - created_at < WAKE_LIMIT
    assert second["message_id"] in [m["message_id"] for m in answer["messages"]]


def test_wait_input_and_scope_are_checked(mailbox, agent):
    box, other = mailbox(oversight_mode="gated_send"), mailbox(oversight_mode="gated_send")
    api = agent(box)
    sent = held(api, box)
    for bad in ("61", "-1", "soon"):
        assert_error(api.get("list_pending", message_id=sent["message_id"], wait=bad), 400)
        assert_error(api.get("get_thread", thread_id=sent["thread_id"], wait=bad), 400)
    assert_error(api.get("get_thread", thread_id=sent["thread_id"], wait=1, after_message_id="msg_nope"), 400, "not_in_thread")
    assert_error(api.get("get_thread", thread_id=sent["thread_id"], after_message_id="msg_nope"), 400, "not_in_thread")
    # Another tenant's message or thread is a 404 at once, never a wait.
    stranger = agent(other)
    start = time.monotonic()
    assert_error(stranger.get("list_pending", message_id=sent["message_id"], wait=20), 404, "message_not_found")
    assert_error(stranger.get("get_thread", thread_id=sent["thread_id"], wait=20), 404, "thread_not_found")
    assert time.monotonic() - start < 5.0  # far below the 20 s wait: it answered at once


def test_parked_waiters_do_not_starve_other_requests(server, mailbox, agent):
    """More waiters than the server's threadpool has threads (40): others are still served at once.
    (Two keys of 30 waiters each: one key may hold at most 50 open long-polls.)"""
    box = mailbox(oversight_mode="gated_send")
    api = agent(box)
    sent = held(api, box)
    keys = (api, agent(box))
    waiters = [Waiter(keys[i % 2], "list_pending", message_id=sent["message_id"], wait=4) for i in range(60)]
    time.sleep(1.0)
    start = time.monotonic()
    assert requests.get(f"{server.base}/health", timeout=10).status_code == 200
    api.ok("GET", "check_inbox", mailbox=box)
    assert time.monotonic() - start < 1.0, "a request waited behind parked long-polls"
    for w in waiters:
        assert w.result()["messages"][0]["status"] == "pending"


def test_smtp_decision_wakes_get_thread_waiters(server, admin, mailbox):
    box = mailbox(oversight_mode="autonomous")
    asked = "bob.boss@partner.test"
    q = admin.ok("POST", "decide_email", {"from": box, "to": f"Bob Boss <{asked}>", "question": "Ship it?",
                                          "options": ["Approve", "Reject"]})
    question = wait_status(admin, q["message_id"], "sent")
    plain = Waiter(admin, "get_thread", thread_id=q["thread_id"], wait=20)
    after = Waiter(admin, "get_thread", thread_id=q["thread_id"], wait=20, after_message_id=q["message_id"])
    counted = Waiter(admin, "get_thread", thread_id=q["thread_id"], wait=20, min_messages=2)
    time.sleep(0.7)
    assert (plain.answer, after.answer, counted.answer) == (None, None, None)
    reply = (
        f"From: Bob Boss <{asked}>\r\nTo: {box}\r\nSubject: Re: Ship it?\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@partner.test>\r\nIn-Reply-To: {question['internet_message_id']}\r\n"
        f"References: {question['internet_message_id']}\r\n\r\nApprove\r\n\r\nBob\r\n"
    ).encode()
    sent_at = time.monotonic()
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=20) as s:
        s.sendmail(asked, [box], reply)
    for waiter in (plain, after, counted):
        thread = waiter.result()
        assert thread["decision"] == "Approve"
        assert [m["direction"] for m in thread["messages"]] == ["outbound", "inbound"]
        latency = waiter.done_at - sent_at
        assert latency < WAKE_LIMIT, latency
    print(f"get_thread wake-up latency (SMTP reply): {(plain.done_at - sent_at) * 1000:.0f} ms")
    # The thread has its decision now: a plain waiter answers at once; one that saw the reply waits.
    start = time.monotonic()
    assert admin.ok("GET", "get_thread", thread_id=q["thread_id"], wait=20)["decision"] == "Approve"
    assert time.monotonic() - start < 5.0  # far below the 20 s wait: it answered at once
    last = thread["messages"][-1]["message_id"]
    start = time.monotonic()
    admin.ok("GET", "get_thread", thread_id=q["thread_id"], wait=1, after_message_id=last)
    assert time.monotonic() - start >= 0.95


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    with pg_pair(tmp_path_factory) as p:
        yield p


def test_approval_on_server_b_wakes_waiter_on_server_a(pair):
    box = f"pair-{uuid.uuid4().hex[:8]}@acme.test"
    admin_a, admin_b = pair.admins
    admin_a.ok("POST", "create_mailbox", {"address": box, "oversight_mode": "gated_send"})
    agent_key = admin_a.ok("POST", "create_api_key", {"role": "agent", "mailboxes": [box]})["api_key"]
    approver_key = admin_a.ok("POST", "create_api_key", {"role": "approver", "mailboxes": [box]})["api_key"]
    on_a, on_b = pair.api(0, agent_key), pair.api(1, approver_key)
    latencies = []
    for i in range(3):
        sent = held(on_a, box, f"cross-server {i}")
        waiter = Waiter(on_a, "list_pending", message_id=sent["message_id"], wait=20)
        time.sleep(0.5 + 0.3 * i)  # different phases against the fallback poll
        assert waiter.answer is None
        approved_at = time.monotonic()
        on_b.ok("POST", "approve_message", {"message_id": sent["message_id"]})
        assert waiter.result()["messages"][0]["status"] == "approved"
        latencies.append(waiter.done_at - approved_at)
    print(f"cross-server wake-up latencies: {[round(x * 1000) for x in latencies]} ms")
    assert max(latencies) < WAKE_LIMIT, latencies
    pair.assert_clean_logs()


def test_a_pending_list_long_poll_filtered_by_flow_run(admin, mailbox):
    """list_pending?flow_run_id=…&wait=… (what a cancelled run's hook may poll): answers, and wakes
    on a new held message of that run."""
    box = mailbox(oversight_mode="gated_all")
    run = str(uuid.uuid4())
    answers: list = []
    waiter = threading.Thread(target=lambda: answers.append(admin.get("list_pending", flow_run_id=run, wait=20)))
    waiter.start()
    time.sleep(0.5)
    admin.ok("POST", "send_email", {"from": box, "to": "ana@partner.test", "subject": "s", "body": "b",
                                    "metadata": {"prefect": {"flow_run_id": run}}})
    waiter.join(timeout=25)
    assert answers and answers[0].status_code == 200, answers and answers[0].text
    assert [m["message_status"] for m in answers[0].json()["messages"]] == ["pending"]
