"""Two servers on one PostgreSQL database share the outbox: every message goes out exactly once,
whichever server approved or queued it and whichever delivery worker picked it up."""

from __future__ import annotations

import time

from multimail_server.store import tables as t


def test_two_servers_deliver_each_message_exactly_once(pg2_deployment, fire_together):
    dep = pg2_deployment
    dep.new_log_lines()
    gated = dep.new_mailbox(oversight_mode="gated_send")
    direct = dep.new_mailbox(oversight_mode="autonomous")
    local = dep.new_mailbox(oversight_mode="autonomous")  # a hosted recipient: delivered locally
    agent_key = dep.key("agent", [gated, direct])
    approver_key = dep.key("approver", [gated])
    to = ["remote@partner.test", local]
    n = 20

    # Held messages, queued through both servers, then all approved at once through server A.
    held = [dep.api(i, agent_key).ok("POST", "send_email", {"from": gated, "to": to, "subject": f"held {i}", "body": "b"})["message_id"]
            for i in range(n)]
    approvers = [dep.api(0, approver_key) for _ in range(n)]
    # Meanwhile server B queues messages that need no approval, so both workers have work.
    agents_b = [dep.api(1, agent_key) for _ in range(n)]

    def act(i: int):
        if i < n:
            return approvers[i].post("approve_message", {"message_id": held[i]}).status_code, held[i]
        r = agents_b[i - n].post("send_email", {"from": direct, "to": to, "subject": f"direct {i}", "body": "b"})
        return r.status_code, r.json().get("message_id")

    answers, _ = fire_together(2 * n, act)
    assert {code for code, _ in answers} == {200}, answers
    ids = [mid for _, mid in answers]

    deadline = time.monotonic() + 20
    while True:
        statuses = {mid: dep.rows(t.messages, id=mid)[0]["status"] for mid in ids}
        if set(statuses.values()) == {"sent"}:
            break
        assert time.monotonic() < deadline, f"not delivered: {[m for m, s in statuses.items() if s != 'sent']}"
        time.sleep(0.2)

    local_id = dep.mailbox_id(local)
    for mid in ids:
        [msg] = dep.rows(t.messages, id=mid)
        assert dep.count(t.captured_mail, message_id=mid) == 1, mid
        assert dep.count(t.audit_events, message_id=mid, action="message.sent") == 1, mid
        assert dep.count(t.events, message_id=mid, type="message.sent") == 1, mid
        [row] = dep.rows(t.outbox, message_id=mid)
        assert (row["state"], row["attempts"]) == ("done", 1), (mid, row)
        copies = [m for m in dep.rows(t.messages, internet_message_id=msg["internet_message_id"]) if m["mailbox_id"] == local_id]
        assert len(copies) == 1, mid  # the hosted recipient got it once
    # Nothing held was delivered without its approval.
    for mid in held:
        assert dep.count(t.audit_events, message_id=mid, action="message.approved") == 1
    dep.assert_clean_logs()
