"""Approve vs cancel on the same pending message, at the same moment, over HTTP (on pg2 the two
requests go to different servers). Whatever the order, the answers and the stored state agree:
a cancelled message never goes out, an approved one goes out exactly once, and nothing is a 5xx."""

from __future__ import annotations

import time

from multimail_server.store import tables as t

ROUNDS = 10


def wait_settled(deployment, message_ids: list[str], timeout: float = 20.0) -> dict[str, dict]:
    """Wait until no message is still queued (the delivery workers have had their turn)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = {mid: deployment.rows(t.messages, id=mid)[0] for mid in message_ids}
        if all(r["status"] not in ("queued", "sending") for r in rows.values()):
            return rows
        assert time.monotonic() < deadline, {m: r["status"] for m, r in rows.items()}
        time.sleep(0.1)


def test_approve_and_cancel_at_once_resolve_to_one_outcome(deployment, fire_together):
    box = deployment.new_mailbox(oversight_mode="gated_send")
    agent_key, approver_key = deployment.key("agent", [box]), deployment.key("approver", [box])
    agent = deployment.api(0, agent_key)
    last = len(deployment.servers) - 1
    outcomes = []
    for i in range(ROUNDS):
        mid = agent.ok("POST", "send_email", {"from": box, "to": "x@partner.test", "subject": f"race {i}", "body": "b"})["message_id"]
        approver_api, agent_api = deployment.api(0, approver_key), deployment.api(last, agent_key)

        def act(which: int):
            if which == 0:
                return approver_api.post("approve_message", {"message_id": mid, "note": "go"})
            return agent_api.post("cancel_message", {"message_id": mid, "reason": "stop"})

        (approve, cancel), _ = fire_together(2, act)
        outcomes.append((mid, approve.status_code, cancel.status_code, approve.json(), cancel.json()))

    final = wait_settled(deployment, [o[0] for o in outcomes])
    both_won = []
    for mid, a, c, a_body, c_body in outcomes:
        row = final[mid]
        where = f"{mid}: approve={a} {a_body} cancel={c} {c_body} -> {row['status']}/{row['approval_status']}"
        assert {a, c} <= {200, 409}, where
        assert 200 in (a, c), f"neither won: {where}"
        sent_audits = deployment.count(t.audit_events, message_id=mid, action="message.sent")
        captured = deployment.count(t.captured_mail, message_id=mid)
        assert deployment.count(t.audit_events, message_id=mid, action="message.approved") == (a == 200), where
        assert deployment.count(t.audit_events, message_id=mid, action="message.cancelled") == (c == 200), where
        if c == 200:  # a successful cancel means the mail never leaves, and pollers see it
            assert row["status"] == "cancelled" and sent_audits == 0 and captured == 0, where
            assert row["approval_status"] == "cancelled", where
        else:  # the approval won: it goes out exactly once
            assert (row["status"], row["approval_status"]) == ("sent", "approved"), where
            assert sent_audits == 1 and captured == 1, where
            assert c_body["error"]["code"] in ("already_sent", "invalid_state"), where
        if a == 409:
            assert c == 200 and row["approval_status"] == "cancelled", where
            assert a_body["error"]["code"] == "invalid_state", where
        if a == 200 and c == 200:
            both_won.append(f"{mid}: approve=200, cancel=200 -> {row['status']}/{row['approval_status']}")
    # What a poller sees agrees with the stored outcome, on every server.
    for i in range(len(deployment.servers)):
        listed = {m["message_id"]: m["status"] for m in deployment.api(i, agent_key).ok("GET", "list_pending", mailbox=box)["messages"]}
        assert listed == {mid: final[mid]["approval_status"] for mid, *_ in outcomes}
    deployment.assert_clean_logs()
    # An approval is a decision: a cancellation that loses the race gets a 409, never a second 200.
    assert not both_won, both_won


def test_concurrent_approvals_of_one_message_have_one_winner(deployment, fire_together):
    """Ten approvers click at once: one 200, nine 409, one delivery."""
    box = deployment.new_mailbox(oversight_mode="gated_send")
    agent_key, approver_key = deployment.key("agent", [box]), deployment.key("approver", [box])
    mid = deployment.api(0, agent_key).ok("POST", "send_email", {"from": box, "to": "x@partner.test", "subject": "once", "body": "b"})["message_id"]
    clients = [deployment.api(i, approver_key) for i in range(10)]
    answers, _ = fire_together(10, lambda i: clients[i].post("approve_message", {"message_id": mid}).status_code)
    assert sorted(answers) == [200] + [409] * 9
    final = wait_settled(deployment, [mid])
    assert final[mid]["status"] == "sent"
    assert deployment.count(t.audit_events, message_id=mid, action="message.approved") == 1
    assert deployment.count(t.outbox, message_id=mid) == 1
    assert deployment.count(t.captured_mail, message_id=mid) == 1
    deployment.assert_clean_logs()
