"""The audit hash chain stays intact while several server processes write at once."""

from multimail_server.config import Settings
from multimail_server.services import Context, audit_chain


def test_chain_is_intact_after_concurrent_writes_on_every_server(deployment, fire_together):
    box = deployment.new_mailbox(oversight_mode="gated_send")
    agent = deployment.key("agent", [box])
    approver = deployment.key("approver", [box])
    n = len(deployment.servers)

    def act(i: int):
        api = deployment.api(i % n, agent)
        sent = api.ok("POST", "send_email", {"from": box, "to": f"p{i}@partner.test", "subject": f"chain {i}", "body": "b"})
        if i % 2:
            deployment.api((i + 1) % n, approver).ok("POST", "approve_message", {"message_id": sent["message_id"]})
        return sent["message_id"]

    ids, _ = fire_together(40, act)
    assert len(set(ids)) == 40
    result = audit_chain.verify(Context(store=deployment.store, settings=Settings()))
    assert result["ok"] is True, result
    assert result["events"] >= 60
    deployment.assert_clean_logs()
