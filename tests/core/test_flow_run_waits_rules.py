"""The pure rules of flow-run waits: run ids, outcomes, and which events settle which waits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timezone

import pytest

from multimail_server.core import flow_run_waits as rules
from multimail_server.core.errors import BadRequest


def test_flow_run_ids_are_uuids_in_canonical_form():
    u = uuid.uuid4()
    assert rules.flow_run_id(str(u).upper()) == str(u)
    for bad in ("", "abc", None, 5, str(u) + "x"):
        with pytest.raises(BadRequest) as exc:
            rules.flow_run_id(bad)
        assert exc.value.details["field"] == "flow_run_id"


def test_the_run_id_of_a_send_comes_from_metadata_prefect():
    u = str(uuid.uuid4())
    assert rules.flow_run_id_from_metadata({"prefect": {"flow_run_id": u}}) == u
    assert rules.flow_run_id_from_metadata({}) is None
    assert rules.flow_run_id_from_metadata(None) is None
    assert rules.flow_run_id_from_metadata({"prefect": "not a dict"}) is None
    # metadata is free-form (docs/api.md): what is not a run id is simply not indexed
    assert rules.flow_run_id_from_metadata({"prefect": {"flow_run_id": "x"}}) is None
    assert rules.flow_run_id_from_metadata({"prefect": {"flow_run_id": 5}}) is None


def test_approval_outcomes_follow_the_approval_status():
    at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    base = {"id": "msg_1", "decided_by": "key_1", "decided_at": at, "decision_note": "ok"}
    assert rules.approval_outcome({**base, "approval_status": "pending"}) is None
    approved = rules.approval_outcome({**base, "approval_status": "approved"})
    assert approved == {"kind": "approval", "message_id": "msg_1", "status": "approved", "decided_by": "key_1",
                        "decided_at": "2026-11-26T12:00:00Z", "reason": "ok"}
    assert rules.approval_outcome({**base, "approval_status": None})["status"] == "not_required"


@pytest.mark.parametrize("event,kind,settles", [
    ("message.approved", "approval", True), ("message.rejected", "approval", True), ("message.cancelled", "approval", True),
    ("message.sent", "approval", False), ("decision.received", "approval", False),
    ("decision.received", "decision", True), ("decision.unclear", "decision", False), ("message.approved", "decision", False),
    ("message.rejected", "decision", True), ("message.cancelled", "decision", True),
])
def test_which_events_settle_which_waits(event, kind, settles):
    assert rules.settles(kind, event) is settles
    assert (event in rules.SETTLING_EVENTS) is (event in ("message.approved", "message.rejected", "message.cancelled", "decision.received"))


def test_decision_outcomes_carry_the_option_and_who_answered():
    out = rules.decision_outcome(thread_id="thr_1", question_message_id="msg_q", reply={"id": "msg_r", "decision": "yes",
                                                                                        "from_addr": "ana@partner.test"})
    assert out == {"kind": "decision", "thread_id": "thr_1", "question_message_id": "msg_q", "message_id": "msg_r",
                   "decision": "yes", "from": "ana@partner.test"}


def test_a_refused_question_settles_its_decision_waits():
    q = {"id": "msg_q", "thread_id": "thr_1", "approval_status": "rejected", "decided_by": "key_1", "decided_at": None,
         "decision_note": "wrong audience"}
    out = rules.refused_question_outcome(q)
    assert out["kind"] == "decision" and out["status"] == "rejected" and out["decision"] is None
    assert out["question_message_id"] == "msg_q" and out["reason"] == "wrong audience"
    assert rules.refused_question_outcome({**q, "approval_status": "pending"}) is None
    assert rules.refused_question_outcome({**q, "approval_status": "approved"}) is None
