"""cancel_pending_mail against a real MultiMail server: a cancelled run's mail that has not left is
withdrawn, whether it is held for approval, approved and waiting for its send_at, or scheduled
without ever being held; another run's mail, and mail already sent, are left alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flow_boxes import make_box
from prefect import flow
from prefect.client.schemas.objects import FlowRun
from prefect.states import Cancelling
from prefect_multimail import cancel_pending_mail

pytestmark = pytest.mark.usefixtures("prefect_api_url")


@flow(name="scheduling-flow")
def scheduling_flow():
    pass


def _send(box, run_id: str, subject: str, **extra) -> str:
    body = {"from": box.address, "to": "ana@partner.test", "subject": subject, "body": "Hello.",
            "metadata": {"prefect": {"flow_run_id": run_id}}, **extra}
    return box.agent.ok("POST", "send_email", body)["message_id"]


def _status(box, message_id: str) -> str:
    return box.approver.ok("GET", "read_email", message_id=message_id)["status"]


def test_a_cancelled_run_withdraws_its_held_and_scheduled_mail(prefect_server, mm_admin):
    gated = make_box(prefect_server, mm_admin)
    autonomous = make_box(prefect_server, mm_admin, oversight_mode="autonomous")
    run = FlowRun(id=uuid.uuid4(), name="late-heron", flow_id=uuid.uuid4())
    mine, other = str(run.id), str(uuid.uuid4())
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds")

    held = _send(gated, mine, "Held")
    approved_later = _send(gated, mine, "Approved, for later", send_at=later)
    gated.approver.ok("POST", "approve_message", {"message_id": approved_later})
    scheduled = _send(autonomous, mine, "Scheduled, never held", send_at=later)
    sent = _send(autonomous, mine, "Sent at once")
    others = _send(autonomous, other, "Another run's", send_at=later)

    def listed(box) -> dict[str, tuple[str, str]]:
        return {m["message_id"]: (m["status"], m["message_status"])
                for m in box.agent.ok("GET", "list_pending", flow_run_id=mine)["messages"]}

    assert listed(gated) == {held: ("pending", "pending"), approved_later: ("approved", "scheduled")}
    assert listed(autonomous) == {scheduled: ("scheduled", "scheduled")}  # not the sent one: it has left

    for box in (gated, autonomous):
        cancel_pending_mail(box.credentials)(scheduling_flow, run, Cancelling())

    for box, message_id in ((gated, held), (gated, approved_later), (autonomous, scheduled)):
        assert _status(box, message_id) == "cancelled", message_id
    assert _status(autonomous, others) == "scheduled"  # another run's mail is not touched
    assert _status(autonomous, sent) != "cancelled"
