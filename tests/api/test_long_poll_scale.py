"""Many open long-polls against a real server: an unrelated write stays about as fast as on an
idle server (waiters share one cheap change check instead of each re-reading on every commit),
and open long-polls are capped per key and per process with 429 `too_many_waits` + Retry-After."""

from __future__ import annotations

import statistics
import time

import pytest

from tests.conftest import Api, ServerProcess

from .helpers import assert_error
from .test_long_poll import Waiter, held

WAITERS_PER_KEY = 30
KEYS = 5  # 150 open long-polls, under the default cap of 50 per key


def write_latency(api: Api, message_id: str, rounds: int = 25) -> float:
    """Median seconds of one small committed write (tag_email) on the given message."""
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        api.ok("POST", "tag_email", {"message_id": message_id, "tags": {"round": str(i)}})
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_open_long_polls_do_not_slow_unrelated_writes(mailbox, agent, approver):
    box, elsewhere = mailbox(oversight_mode="gated_send"), mailbox(oversight_mode="gated_send")
    writer = agent(elsewhere)
    target = held(writer, elsewhere, "the unrelated message")["message_id"]
    keys = [agent(box) for _ in range(KEYS)]
    waited = [held(keys[0], box, f"held {i}") for i in range(10)]
    write_latency(writer, target, rounds=5)  # warm up
    idle = write_latency(writer, target)
    waiters = []
    for k, api in enumerate(keys):
        for i in range(WAITERS_PER_KEY):
            if i % 3 == 2:  # a third wait on the mailbox's pending list, the rest on one message
                waiters.append(Waiter(api, "list_pending", mailbox=box, wait=40))
            else:
                waiters.append(Waiter(api, "list_pending", message_id=waited[(k + i) % 10]["message_id"], wait=40))
    time.sleep(3.0)  # every waiter is parked
    assert not any(w.answer is not None for w in waiters), "a long-poll answered before anything changed"
    loaded = write_latency(writer, target)
    print(f"tag_email median: idle {idle * 1000:.1f} ms, with {len(waiters)} long-polls {loaded * 1000:.1f} ms "
          f"({loaded / idle:.1f}x)")
    assert not any(w.answer is not None for w in waiters), "an unrelated write woke a long-poll's answer"
    boss = approver(box)
    for sent in waited:
        boss.ok("POST", "approve_message", {"message_id": sent["message_id"]})
    for w in waiters:
        answer = w.result()
        assert any(m["status"] == "approved" for m in answer["messages"]), answer
    assert loaded < 3 * idle, f"writes got {loaded / idle:.1f}x slower with {len(waiters)} open long-polls"


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
