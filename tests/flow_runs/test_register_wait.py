"""register_wait without a Prefect API (the session server has none): answers, errors, scoping,
and the flow-run filter of list_pending that the cancellation hook relies on."""

from __future__ import annotations

import uuid

import pytest

from tests.api.helpers import assert_error


def _run() -> str:
    return str(uuid.uuid4())


def _gated_send(admin, box, run=None, **extra):
    meta = {"prefect": {"flow_run_id": run}} if run else {}
    return admin.ok("POST", "send_email", {"from": box, "to": "bob@x.test", "subject": "s", "body": uuid.uuid4().hex,
                                           "metadata": meta, **extra})


def test_without_prefect_the_caller_long_polls_and_waits_are_not_stored(admin, mailbox):
    box = mailbox(oversight_mode="gated_send")
    msg = _gated_send(admin, box)
    run = _run()
    answer = admin.ok("POST", "register_wait", {"flow_run_id": run, "message_id": msg["message_id"]})
    assert answer["resume"] == "none"
    assert answer["status"] == "waiting" and answer["outcome"] is None
    assert answer["kind"] == "approval" and answer["message_id"] == msg["message_id"] and answer["flow_run_id"] == run
    admin.ok("POST", "approve_message", {"message_id": msg["message_id"]})
    after = admin.ok("POST", "register_wait", {"flow_run_id": run, "message_id": msg["message_id"]})
    assert after["status"] == "resolved"
    assert after["outcome"]["status"] == "approved" and after["outcome"]["decided_by"]


@pytest.mark.parametrize("action,status", [("reject_message", "rejected"), ("cancel_message", "cancelled")])
def test_outcomes_of_rejection_and_cancellation(admin, mailbox, action, status):
    box = mailbox(oversight_mode="gated_send")
    msg = _gated_send(admin, box)
    admin.ok("POST", action, {"message_id": msg["message_id"], "reason": "no thanks"})
    out = admin.ok("POST", "register_wait", {"flow_run_id": _run(), "message_id": msg["message_id"]})["outcome"]
    assert out["status"] == status and out["reason"] == "no thanks"


def test_a_message_that_was_never_held_needs_no_approval(admin, mailbox):
    box = mailbox(oversight_mode="autonomous")
    msg = _gated_send(admin, box)
    out = admin.ok("POST", "register_wait", {"flow_run_id": _run(), "message_id": msg["message_id"]})["outcome"]
    assert out["status"] == "not_required"


def test_decision_waits_name_the_thread_and_answer_once_a_reply_chose(admin, mailbox):
    box = mailbox(oversight_mode="autonomous")
    asked = admin.ok("POST", "decide_email", {"from": box, "to": "ana@partner.test", "question": "Ship it?", "options": ["yes", "no"]})
    answer = admin.ok("POST", "register_wait", {"flow_run_id": _run(), "thread_id": asked["thread_id"]})
    assert answer["kind"] == "decision" and answer["thread_id"] == asked["thread_id"] and answer["outcome"] is None


def test_bad_requests_change_nothing(admin, mailbox):
    box = mailbox(oversight_mode="gated_send")
    msg = _gated_send(admin, box)
    assert_error(admin.post("register_wait", {"flow_run_id": "not-a-uuid", "message_id": msg["message_id"]}), 400, "invalid_field")
    assert_error(admin.post("register_wait", {"flow_run_id": _run()}), 400, "invalid_body")
    assert_error(admin.post("register_wait", {"flow_run_id": _run(), "message_id": msg["message_id"], "thread_id": msg["thread_id"]}),
                 400, "invalid_body")
    assert_error(admin.post("register_wait", {"flow_run_id": _run(), "message_id": "msg_nope"}), 404, "message_not_found")
    assert_error(admin.post("register_wait", {"flow_run_id": _run(), "thread_id": "thr_nope"}), 404, "thread_not_found")
    # a plain thread has no question to wait for
    assert_error(admin.post("register_wait", {"flow_run_id": _run(), "thread_id": msg["thread_id"]}), 409, "not_a_decision")
    assert_error(admin.post("register_wait", {"flow_run_id": _run(), "message_id": msg["message_id"], "extra": 1}), 400, "unknown_field")


def test_another_tenants_message_is_not_found(admin, mailbox, make_key):
    box = mailbox(oversight_mode="gated_send")
    msg = _gated_send(admin, box)
    other = make_key("agent", [mailbox()])
    assert_error(other.post("register_wait", {"flow_run_id": _run(), "message_id": msg["message_id"]}), 404, "message_not_found")


def test_list_pending_filters_by_the_flow_run_that_queued_the_mail(admin, mailbox):
    box = mailbox(oversight_mode="gated_send")
    run, other = _run(), _run()
    mine = [_gated_send(admin, box, run)["message_id"] for _ in range(2)]
    _gated_send(admin, box, other)
    _gated_send(admin, box)
    listed = admin.ok("GET", "list_pending", flow_run_id=run)["messages"]
    assert sorted(m["message_id"] for m in listed) == sorted(mine)
    assert all(m["metadata"]["prefect"]["flow_run_id"] == run for m in listed)
    assert_error(admin.get("list_pending", flow_run_id="x"), 400, "invalid_field")


def test_a_malformed_prefect_run_id_in_metadata_is_refused_and_sends_nothing(admin, mailbox):
    box = mailbox(oversight_mode="gated_send")
    before = len(admin.ok("GET", "list_pending", mailbox=box)["messages"])
    r = admin.post("send_email", {"from": box, "to": "bob@x.test", "subject": "s", "body": "b",
                                  "metadata": {"prefect": {"flow_run_id": "yesterday"}}})
    err = assert_error(r, 400, "invalid_field")
    assert err["details"]["field"] == "metadata.prefect.flow_run_id"
    assert len(admin.ok("GET", "list_pending", mailbox=box)["messages"]) == before


def test_prefect_webhook_kinds_need_a_configured_prefect_api(admin):
    assert_error(admin.post("create_webhook", {"kind": "prefect_deployment", "deployment": "f/d"}), 422, "prefect_not_configured")
    assert_error(admin.post("create_webhook", {"kind": "prefect_events"}), 422, "prefect_not_configured")
    assert_error(admin.post("create_webhook", {"kind": "carrier_pigeon", "url": "http://127.0.0.1:9/x"}), 400, "invalid_field")
    assert_error(admin.post("create_webhook", {"url": "http://127.0.0.1:9/x", "deployment": "f/d"}), 400, "invalid_field")
    assert_error(admin.post("create_webhook", {}), 400, "missing_field")
    assert not [w for w in admin.ok("GET", "list_webhooks")["webhooks"] if w["kind"] != "http"]
