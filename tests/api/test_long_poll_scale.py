"""Many open long-polls against a real server: unrelated writes go through while they are parked
(waiters share one cheap change check instead of each re-reading on every commit) and their own
commit answers every one; open long-polls are capped per key and per process with 429
`too_many_waits` + Retry-After. What the open waits cost a commit is benchmarks/long_polls.py's."""

from __future__ import annotations

import time

import pytest

from tests.conftest import Api, ServerProcess

from .helpers import assert_error
from .test_long_poll import Waiter, held

WAITERS_PER_KEY = 30
KEYS = 5  # 150 open long-polls, under the default cap of 50 per key


def test_open_long_polls_stay_parked_through_unrelated_writes_and_all_wake_on_their_commit(mailbox, agent, approver):
    """150 parked long-polls over five keys: unrelated writes still succeed and wake none of them
    into an answer; approving what they wait on answers every one. (What the open waits cost each
    commit is a speed target: benchmarks/long_polls.py measures it, a timed test here flaked on a
    loaded machine.)"""
    box, elsewhere = mailbox(oversight_mode="gated_send"), mailbox(oversight_mode="gated_send")
    writer = agent(elsewhere)
    target = held(writer, elsewhere, "the unrelated message")["message_id"]
    keys = [agent(box) for _ in range(KEYS)]
    waited = [held(keys[0], box, f"held {i}") for i in range(10)]
    waiters = []
    for k, api in enumerate(keys):
        for i in range(WAITERS_PER_KEY):
            if i % 3 == 2:  # a third wait on the mailbox's pending list, the rest on one message
                waiters.append(Waiter(api, "list_pending", mailbox=box, wait=40))
            else:
                waiters.append(Waiter(api, "list_pending", message_id=waited[(k + i) % 10]["message_id"], wait=40))
    time.sleep(3.0)  # every waiter is parked
    assert not any(w.answer is not None for w in waiters), "a long-poll answered before anything changed"
    for i in range(25):
        tagged = writer.ok("POST", "tag_email", {"message_id": target, "tags": {"round": str(i)}})
        assert tagged["tags"]["round"] == str(i), tagged
    assert not any(w.answer is not None for w in waiters), "an unrelated write woke a long-poll's answer"
    boss = approver(box)
    for sent in waited:
        boss.ok("POST", "approve_message", {"message_id": sent["message_id"]})
    for w in waiters:
        answer = w.result()
        assert any(m["status"] == "approved" for m in answer["messages"]), answer


def test_the_51st_long_poll_of_a_key_is_refused(mailbox, agent, approver):
    box = mailbox(oversight_mode="gated_send")
    api = agent(box)
    sent = held(api, box)
    waiters = [Waiter(api, "list_pending", message_id=sent["message_id"], wait=30) for _ in range(50)]
    time.sleep(2.0)
    refused = api.get("list_pending", message_id=sent["message_id"], wait=30)
    body = assert_error(refused, 429, "too_many_waits")
    assert int(refused.headers["Retry-After"]) >= 1
    assert body["details"]["limit"] == 50 and body["details"]["retry_after"] == int(refused.headers["Retry-After"])
    # An answer without a wait is not a long-poll; another key has its own allowance.
    assert api.ok("GET", "list_pending", message_id=sent["message_id"])["messages"][0]["status"] == "pending"
    other = Waiter(agent(box), "list_pending", message_id=sent["message_id"], wait=30)
    time.sleep(0.5)
    assert other.answer is None
    approver(box).ok("POST", "approve_message", {"message_id": sent["message_id"]})
    for w in waiters + [other]:
        assert w.result()["messages"][0]["status"] == "approved"
    # The slots are free again.
    assert api.ok("GET", "list_pending", message_id=sent["message_id"], wait=5)["messages"][0]["status"] == "approved"


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("capped"), smtp=False,
                        env={"MULTIMAIL_LONG_POLL_MAX_PER_KEY": "3", "MULTIMAIL_LONG_POLL_MAX_TOTAL": "4"})
    yield srv
    srv.stop()


def test_long_polls_are_capped_per_process(capped):
    admin = Api(capped.base, capped.admin_key)
    box = "capped@acme.test"
    admin.ok("POST", "create_mailbox", {"address": box, "oversight_mode": "gated_send"})
    one, two = (Api(capped.base, admin.ok("POST", "create_api_key", {"role": "agent", "mailboxes": [box]})["api_key"])
                for _ in range(2))
    sent = held(one, box)
    waiters = [Waiter(one, "list_pending", message_id=sent["message_id"], wait=8) for _ in range(3)]
    time.sleep(1.0)
    assert_error(one.get("list_pending", message_id=sent["message_id"], wait=8), 429, "too_many_waits")
    waiters.append(Waiter(two, "list_pending", message_id=sent["message_id"], wait=8))
    time.sleep(1.0)
    refused = two.get("list_pending", message_id=sent["message_id"], wait=8)
    body = assert_error(refused, 429, "too_many_waits")
    assert body["details"]["limit"] == 4 and 1 <= int(refused.headers["Retry-After"]) <= 8
    for w in waiters:
        assert w.result()["messages"][0]["status"] == "pending"
