"""THE acceptance test of issue 2: 50 concurrent identical send_email requests create exactly one
message — over HTTP, against one server on SQLite and against two servers sharing PostgreSQL (the
requests split across both), with an explicit key (header or body field) and without one."""

from __future__ import annotations

import secrets
from collections import Counter

import pytest

from multimail_server.store import tables as t

N = 50


@pytest.mark.parametrize("key_mode", ["header", "body", "implicit"])
def test_50_concurrent_identical_sends_create_exactly_one_message(deployment, fire_together, key_mode, record_property):
    box = deployment.new_mailbox(oversight_mode="gated_send")
    agent_key = deployment.key("agent", [box])
    body = {"from": box, "to": ["boss@partner.test"], "subject": f"Weekly report {secrets.token_hex(3)}",
            "body": "All green.", "metadata": {"run": 1}}
    headers = None
    key = f"report-{secrets.token_hex(4)}"
    if key_mode == "header":
        headers = {"Idempotency-Key": key}
    elif key_mode == "body":
        body["idempotency_key"] = key
    clients = [deployment.api(i, agent_key) for i in range(N)]  # i % servers: split across both

    def send(i: int):
        r = clients[i].post("send_email", body, headers=headers)
        return r.status_code, r.json()

    answers, seconds = fire_together(N, send)
    record_property("seconds_for_50_concurrent_sends", round(seconds, 3))
    print(f"\n{deployment.name}/{key_mode}: {N} concurrent identical send_email in {seconds:.2f}s")

    statuses = Counter(code for code, _ in answers)
    assert statuses == {200: N}, f"not all 200: {statuses} {[a for c, a in answers if c != 200][:3]}"
    ids = {a["message_id"] for _, a in answers}
    assert len(ids) == 1, f"{len(ids)} messages created"
    [message_id] = ids
    assert sorted(a["duplicate"] for _, a in answers) == [False] + [True] * (N - 1)
    assert {a["status"] for _, a in answers} == {"pending"}

    # The database agrees: one message, one thread, one slot, one audit event, one event.
    mailbox_id = deployment.mailbox_id(box)
    assert deployment.count(t.messages, mailbox_id=mailbox_id) == 1
    assert deployment.count(t.threads, mailbox_id=mailbox_id) == 1
    assert deployment.count(t.audit_events, mailbox_id=mailbox_id, action="message.send") == 1
    assert deployment.count(t.audit_events, message_id=message_id, action="message.send") == 1
    assert deployment.count(t.events, message_id=message_id, type="message.pending") == 1
    # And so does the API, on every server.
    for i in range(len(deployment.servers)):
        pending = clients[i].get("list_pending", mailbox=box).json()["messages"]
        assert [m["message_id"] for m in pending] == [message_id]
    deployment.assert_clean_logs()


def test_50_concurrent_different_sends_and_reads_all_succeed(deployment, fire_together, record_property):
    """Load without duplicates: every request is its own message; readers run alongside."""
    box = deployment.new_mailbox(oversight_mode="gated_send")
    agent_key = deployment.key("agent", [box])
    clients = [deployment.api(i, agent_key) for i in range(N + 20)]

    def call(i: int):
        if i < N:
            r = clients[i].post("send_email", {"from": box, "to": "x@partner.test", "subject": f"n{i}", "body": "b"})
        elif i % 2:
            r = clients[i].get("list_pending", mailbox=box)
        else:
            r = clients[i].get("check_inbox", mailbox=box)
        return r.status_code, r.json()

    answers, seconds = fire_together(N + 20, call)
    record_property("seconds_for_70_concurrent_mixed", round(seconds, 3))
    print(f"\n{deployment.name}: {N} different sends + 20 reads in {seconds:.2f}s")
    assert Counter(code for code, _ in answers) == {200: N + 20}, [a for c, a in answers if c != 200][:3]
    sent = [a for _, a in answers[:N]]
    assert len({a["message_id"] for a in sent}) == N and not any(a["duplicate"] for a in sent)
    assert deployment.count(t.messages, mailbox_id=deployment.mailbox_id(box)) == N
    deployment.assert_clean_logs()
