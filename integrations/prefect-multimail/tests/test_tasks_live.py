"""The tasks against a real MultiMail server: what a flow run sends is linked to it
(metadata.prefect, list_pending(flow_run_id=...)), retries never send twice, and the reading,
tagging, claiming and cancelling tasks do what the SDK calls do."""

from __future__ import annotations

from flow_boxes import Box, make_box
from prefect import flow, task
from prefect.context import FlowRunContext
from prefect_multimail import (
    ack_messages,
    cancel_message,
    check_inbox,
    claim_messages,
    read_email,
    release_messages,
    send_email,
    tag_email,
)

from multimail_server.testing import wait_for


def test_a_task_retry_does_not_send_twice_and_the_message_names_its_run(gated: Box):
    attempts = []

    @task(retries=1, retry_delay_seconds=0)
    def send_then_fail():
        message_id = send_email.fn(gated.credentials, sender=gated.address, to="ana@partner.test",
                                   subject="Invoice 1042", body="Please find the invoice.", metadata={"invoice": 1042})
        attempts.append(message_id)
        if len(attempts) == 1:
            raise RuntimeError("lost the answer")
        return message_id

    @flow(name="invoicing")
    def invoicing():
        return send_then_fail(), str(FlowRunContext.get().flow_run.id)

    message_id, flow_run_id = invoicing()
    assert attempts == [message_id, message_id]
    [item] = gated.agent.ok("GET", "list_pending", flow_run_id=flow_run_id)["messages"]
    assert item["message_id"] == message_id
    metadata = gated.agent.ok("GET", "read_email", message_id=message_id)["metadata"]
    assert metadata["invoice"] == 1042
    assert metadata["prefect"]["flow_run_id"] == flow_run_id and metadata["prefect"]["flow_name"] == "invoicing"
    assert metadata["prefect"]["task_run_name"].startswith("send_then_fail")


def test_a_flow_retry_does_not_send_twice(gated: Box):
    runs = []

    @flow(retries=1, retry_delay_seconds=0)
    def weekly():
        message_id = send_email(gated.credentials, sender=gated.address, to="ana@partner.test",
                                subject="Weekly summary", body="All good.")
        runs.append(message_id)
        if len(runs) == 1:
            raise RuntimeError("a later step failed")
        return str(FlowRunContext.get().flow_run.id)

    flow_run_id = weekly()
    assert runs[0] == runs[1]
    assert len(gated.agent.ok("GET", "list_pending", flow_run_id=flow_run_id)["messages"]) == 1


def test_reading_tagging_claiming_and_cancelling(prefect_server, mm_admin, gated: Box):
    sender = make_box(prefect_server, mm_admin, oversight_mode="autonomous")
    for n in range(3):
        sender.agent.ok("POST", "send_email", {"from": sender.address, "to": gated.address, "subject": f"Order {n}", "body": "x"})
    wait_for(lambda: len(gated.agent.ok("GET", "check_inbox", mailbox=gated.address)["messages"]) == 3)
    creds = gated.credentials

    @flow
    def triage():
        inbox = check_inbox(creds, mailbox=gated.address, limit=2)
        everything = check_inbox(creds, mailbox=gated.address)
        full = read_email(creds, message_id=inbox[0]["message_id"])
        tags = tag_email(creds, message_id=full["message_id"], tags={"triage": "order"})
        untagged = check_inbox(creds, mailbox=gated.address, exclude_tag="triage")
        claim = claim_messages(creds, mailbox=gated.address, limit=2, lease_seconds=60)
        acked = ack_messages(creds, claim_id=claim["claim_id"], message_ids=[claim["messages"][0]["message_id"]])
        released = release_messages(creds, claim_id=claim["claim_id"])
        held = send_email(creds, sender=gated.address, to="ana@partner.test", subject="Oops", body="wrong draft")
        cancelled = cancel_message(creds, message_id=held, reason="superseded")
        return inbox, everything, full, tags, untagged, claim, acked, released, held, cancelled

    inbox, everything, full, tags, untagged, claim, acked, released, held, cancelled = triage()
    assert len(inbox) == 2 and len(everything) == 3
    assert full["subject"].startswith("Order") and full["direction"] == "inbound"
    assert tags["tags"] == {"triage": "order"} and len(untagged) == 2
    assert len(claim["messages"]) == 2 and acked["acked"] == [claim["messages"][0]["message_id"]]
    assert released["released"] == [claim["messages"][1]["message_id"]]
    assert cancelled["status"] == "cancelled"
    assert gated.agent.ok("GET", "list_pending", message_id=held)["messages"][0]["status"] == "cancelled"
