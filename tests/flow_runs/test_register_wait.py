"""register_wait without a Prefect API (the session server has none): answers, errors, scoping,
and the flow-run filter of list_pending that the cancellation hook relies on."""

from __future__ import annotations

import contextlib
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.helpers import assert_error
from tests.conftest import Api, ServerProcess, fresh_pg_database, unique_address


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


def test_metadata_stays_free_form_a_prefect_run_id_that_is_not_one_is_kept_not_indexed(admin, mailbox):
    box = mailbox(oversight_mode="gated_send")
    sent = admin.ok("POST", "send_email", {"from": box, "to": "bob@x.test", "subject": "s", "body": "b",
                                           "metadata": {"prefect": {"flow_run_id": "yesterday"}}})
    item = admin.ok("GET", "list_pending", message_id=sent["message_id"])["messages"][0]
    assert item["metadata"] == {"prefect": {"flow_run_id": "yesterday"}}
    assert_error(admin.get("list_pending", message_id=sent["message_id"], flow_run_id=_run()), 400, "invalid_body")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def resuming(request, tmp_path_factory):
    """A server that would resume runs (a Prefect API is configured; here nothing listens there),
    so its waits are stored; on both databases (PostgreSQL when configured)."""
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_pg_database()) if request.param == "postgresql" else None
        srv = ServerProcess(tmp_path_factory.mktemp("resuming"), database_url=url, smtp=False,
                            env={"MULTIMAIL_PREFECT_API_URL": "http://127.0.0.1:9/api"})
        stack.callback(srv.stop)
        yield Api(srv.base, srv.admin_key)


def test_concurrent_registrations_of_one_wait_make_one(resuming):
    box = unique_address("gated")
    resuming.ok("POST", "create_mailbox", {"address": box, "oversight_mode": "gated_send"})
    msg = _gated_send(resuming, box)["message_id"]
    run = _run()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: resuming.post("register_wait", {"flow_run_id": run, "message_id": msg}), range(8)))
    assert [r.status_code for r in answers] == [200] * 8, [r.text for r in answers]
    assert len({r.json()["wait_id"] for r in answers}) == 1
    assert answers[0].json()["resume"] == "prefect" and answers[0].json()["pause_key"].startswith("multimail-frw-")
    registered = [e for e in resuming.ok("GET", "audit_log", message_id=msg)["events"] if e["action"] == "flow_run.wait_registered"]
    assert len(registered) == 1


def test_one_message_can_be_awaited_by_at_most_ten_runs(resuming):
    box = unique_address("gated")
    resuming.ok("POST", "create_mailbox", {"address": box, "oversight_mode": "gated_send"})
    msg = _gated_send(resuming, box)["message_id"]
    for _ in range(10):
        resuming.ok("POST", "register_wait", {"flow_run_id": _run(), "message_id": msg})
    assert_error(resuming.post("register_wait", {"flow_run_id": _run(), "message_id": msg}), 409, "too_many_waits")


def test_a_run_that_gets_the_outcome_in_an_answer_is_not_resumed_too(resuming):
    box = unique_address("gated")
    resuming.ok("POST", "create_mailbox", {"address": box, "oversight_mode": "gated_send"})
    msg = _gated_send(resuming, box)["message_id"]
    run = _run()
    assert resuming.ok("POST", "register_wait", {"flow_run_id": run, "message_id": msg})["resume_status"] == "waiting"
    resuming.ok("POST", "approve_message", {"message_id": msg})
    # the server now owes a resume (and cannot reach Prefect); the run asks, gets the outcome: done
    again = resuming.ok("POST", "register_wait", {"flow_run_id": run, "message_id": msg})
    assert again["outcome"]["status"] == "approved" and again["resume_status"] == "answered"
    assert "resume_error" not in again  # Prefect's answers about a run are never shown to clients


def test_prefect_webhook_kinds_need_a_configured_prefect_api(admin):
    assert_error(admin.post("create_webhook", {"kind": "prefect_deployment", "deployment": "f/d"}), 422, "prefect_not_configured")
    assert_error(admin.post("create_webhook", {"kind": "prefect_events"}), 422, "prefect_not_configured")
    assert_error(admin.post("create_webhook", {"kind": "carrier_pigeon", "url": "http://127.0.0.1:9/x"}), 400, "invalid_field")
    assert_error(admin.post("create_webhook", {"url": "http://127.0.0.1:9/x", "deployment": "f/d"}), 400, "invalid_field")
    assert_error(admin.post("create_webhook", {}), 400, "missing_field")
    assert not [w for w in admin.ok("GET", "list_webhooks")["webhooks"] if w["kind"] != "http"]
