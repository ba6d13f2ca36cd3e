"""wait_for_approval / wait_for_decision against scripted answers (no MultiMail server): how
outcomes become results or exceptions, the long-poll loop, and the flow-run path when the server
cannot resume runs (`resume: "none"`) or already knows the outcome."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import httpx
import pytest
from fake_multimail import FakeMultiMail
from prefect import flow, task
from prefect_multimail import (
    ApprovalTimeout,
    DecisionTimeout,
    DeliveryFailed,
    DeliveryTimeout,
    MessageCancelled,
    MessageRejected,
    MultiMailCredentials,
    MultiMailWaitError,
    WaitTimeout,
    await_approval,
    await_decision,
    await_delivery,
    wait_for_approval,
    wait_for_decision,
    wait_for_delivery,
)

CREDS = MultiMailCredentials(api_key="mm_live_test", base_url="http://mm.test")


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


def script(*answers):
    """A route answering in turn (the last answer repeats)."""
    answers = list(answers)

    def route(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer if isinstance(answer, httpx.Response) else ok(answer)

    return route


def pending(status: str, **fields) -> dict:
    return {"messages": [{"message_id": "msg_1", "status": status, **fields}]}


QUESTION = {"message_id": "msg_q", "options": ["Ship", "Hold"], "is_reply": False, "decision": None, "status": "sent"}


def thread(*replies: dict, question: dict = QUESTION) -> dict:
    return {"thread_id": "thr_1", "decision": None, "messages": [question, *replies]}


@pytest.fixture
def fake(monkeypatch) -> FakeMultiMail:
    fake = FakeMultiMail()
    fake.install(monkeypatch)
    return fake


def test_approval_long_polls_until_approved(fake):
    fake.routes["list_pending"] = script(pending("pending"), pending("approved", decided_by="key_h"))
    assert wait_for_approval(CREDS, "msg_1", timeout=30) == "approved"
    polls = fake.sent("list_pending")
    assert len(polls) == 2
    assert polls[0].url.params["message_id"] == "msg_1" and 0 < float(polls[0].url.params["wait"]) <= 55


def test_a_message_that_was_never_held_needs_no_approval(fake):
    fake.routes["list_pending"] = script({"messages": []})
    fake.routes["read_email"] = script({"message_id": "msg_1", "approval_status": None, "status": "sent"})
    assert wait_for_approval(CREDS, "msg_1") == "not_required"


def test_no_approval_item_for_a_held_message_is_not_taken_for_no_approval_needed(fake):
    """A server that ignores `message_id` (API.md's list_pending has no such filter) lists
    nothing for it: the message itself says it is held, so the flow does not go on."""
    fake.routes["list_pending"] = script({"messages": []})
    fake.routes["read_email"] = script({"message_id": "msg_1", "approval_status": "pending", "status": "pending"})
    with pytest.raises(MultiMailWaitError):
        wait_for_approval(CREDS, "msg_1")


def test_rejection_and_cancellation_raise_with_the_details(fake):
    fake.routes["list_pending"] = script(pending("rejected", decided_by="key_boss", decision_note="wrong numbers",
                                                 decided_at="2025-01-01T00:00:00Z"))
    with pytest.raises(MessageRejected) as rejected:
        wait_for_approval(CREDS, "msg_1")
    assert rejected.value.reason == "wrong numbers" and rejected.value.decided_by == "key_boss"
    assert rejected.value.message_id == "msg_1" and "wrong numbers" in str(rejected.value)

    fake.routes["list_pending"] = script(pending("cancelled", decided_by="key_agent", decision_note="superseded"))
    with pytest.raises(MessageCancelled) as cancelled:
        wait_for_approval(CREDS, "msg_1")
    assert cancelled.value.reason == "superseded"


def test_timeout_raises_without_hammering_a_server_that_does_not_hold(fake):
    fake.routes["list_pending"] = script(pending("pending"))  # answers at once, every time
    started = time.monotonic()
    with pytest.raises(ApprovalTimeout) as exc:
        wait_for_approval(CREDS, "msg_1", timeout=0.6, poll_interval=0.2)
    assert isinstance(exc.value, WaitTimeout) and isinstance(exc.value, TimeoutError)
    assert 0.5 < time.monotonic() - started < 3
    assert len(fake.sent("list_pending")) <= 5


def test_transient_failures_are_waited_out(fake):
    fake.routes["list_pending"] = script(httpx.Response(503, json={"error": {"code": "unavailable", "message": "x", "details": {}}}),
                                         pending("approved"))
    assert wait_for_approval(CREDS, "msg_1", timeout=30) == "approved"


def test_decision_skips_replies_that_chose_nothing(fake):
    out_of_office = {"message_id": "msg_r1", "is_reply": True, "decision": None, "from": "boss@x.test"}
    answer = {"message_id": "msg_r2", "is_reply": True, "decision": "Hold", "from": "boss@x.test"}
    fake.routes["get_thread"] = script(thread(), thread(out_of_office), thread(out_of_office, answer))
    assert wait_for_decision(CREDS, "thr_1", timeout=30) == "Hold"
    polls = fake.sent("get_thread")
    assert "wait" not in polls[0].url.params  # the first look answers at once
    assert polls[1].url.params["after_message_id"] == "msg_q"
    assert polls[2].url.params["after_message_id"] == "msg_r1"


def test_decision_on_a_thread_without_a_question_is_refused(fake):
    fake.routes["get_thread"] = script({"thread_id": "thr_1", "messages": [{"message_id": "m", "options": None}]})
    with pytest.raises(ValueError, match="no decide_email question"):
        wait_for_decision(CREDS, "thr_1")


def test_a_rejected_question_will_never_be_answered(fake):
    fake.routes["get_thread"] = script(thread(question={**QUESTION, "status": "rejected"}))
    fake.routes["list_pending"] = script({"messages": [{"message_id": "msg_q", "status": "rejected", "decided_by": "key_b",
                                                        "decision_note": "do not ask the CEO"}]})
    with pytest.raises(MessageRejected) as exc:
        wait_for_decision(CREDS, "thr_1")
    assert exc.value.reason == "do not ask the CEO" and exc.value.thread_id == "thr_1"


def test_decision_timeout(fake):
    fake.routes["get_thread"] = script(thread())
    with pytest.raises(DecisionTimeout):
        wait_for_decision(CREDS, "thr_1", timeout=0.3, poll_interval=0.1)


def test_bad_arguments():
    with pytest.raises(ValueError):
        wait_for_approval(CREDS, "")
    with pytest.raises(ValueError):
        wait_for_approval(CREDS, "msg_1", timeout=-1)
    with pytest.raises(ValueError):
        wait_for_decision(CREDS, "thr_1", poll_interval=0)


def test_async_twins_outside_a_flow(fake):
    fake.routes["list_pending"] = script(pending("pending"), pending("approved"))
    fake.routes["get_thread"] = script(thread({"message_id": "r", "is_reply": True, "decision": "Ship"}))

    async def main():
        return await await_approval(CREDS, "msg_1"), await await_decision(CREDS, "thr_1")

    assert asyncio.run(main()) == ("approved", "Ship")


# -- inside flow runs (against the session's Prefect server) ----------------------------------


def register_answer(status: str = "waiting", outcome: dict | None = None, resume: str = "none") -> dict:
    return {"wait_id": None, "kind": "approval", "flow_run_id": "x", "resume": resume, "status": status, "outcome": outcome}


@pytest.mark.usefixtures("prefect_api_url")
def test_in_a_flow_an_outcome_the_server_already_knows_is_used_at_once(fake):
    fake.routes["register_wait"] = script(register_answer("resolved", {"kind": "approval", "message_id": "msg_1",
                                                                       "status": "approved"}, resume="prefect"))

    @flow
    def f():
        from prefect.context import FlowRunContext
        return wait_for_approval(CREDS, "msg_1"), str(FlowRunContext.get().flow_run.id)

    result, run_id = f()
    assert result == "approved"
    [registration] = fake.sent("register_wait")
    assert fake.body(registration) == {"flow_run_id": run_id, "message_id": "msg_1"}
    assert fake.sent("list_pending") == []


@pytest.mark.usefixtures("prefect_api_url")
def test_in_a_flow_with_a_server_that_cannot_resume_runs_it_long_polls(fake):
    fake.routes["register_wait"] = script(register_answer())
    fake.routes["list_pending"] = script(pending("pending"), pending("rejected", decision_note="no"))

    @flow
    def f():
        return wait_for_approval(CREDS, "msg_1")

    state = f(return_state=True)
    assert state.is_failed()
    with pytest.raises(MessageRejected):
        state.result()
    assert len(fake.sent("register_wait")) == 1 and len(fake.sent("list_pending")) == 2


@pytest.mark.usefixtures("prefect_api_url")
def test_in_a_task_it_long_polls_without_registering(fake):
    fake.routes["list_pending"] = script(pending("approved"))

    @task
    def t():
        return wait_for_approval(CREDS, "msg_1")

    @flow
    def f():
        return t()

    assert f() == "approved"
    assert fake.sent("register_wait") == []


@pytest.mark.usefixtures("prefect_api_url")
def test_in_an_async_flow_the_blocking_names_refuse_and_the_twins_wait(fake):
    """Rather than hand back a coroutine that, un-awaited, would let the flow skip the gate."""
    fake.routes["register_wait"] = script(register_answer())
    fake.routes["get_thread"] = script(thread({"message_id": "r", "is_reply": True, "decision": "Ship"}))

    @flow
    async def forgetful():
        wait_for_decision(CREDS, "thr_1")

    @flow
    async def careful():
        return await await_decision(CREDS, "thr_1")

    with pytest.raises(TypeError, match="await await_decision"):
        asyncio.run(forgetful())
    assert fake.sent("get_thread") == []
    assert asyncio.run(careful()) == "Ship"


@pytest.mark.usefixtures("prefect_api_url")
def test_a_watcher_told_to_stop_stops(fake):
    """The wait stops its watcher when the pause is over (or fails); a watcher that went on would
    long-poll MultiMail and read the flow run until the deadline, for nothing."""
    from prefect_multimail.waiting.blocking import watch
    from prefect_multimail.waiting.targets import Approval

    fake.routes["list_pending"] = script(pending("pending"))  # answers at once, every time
    stop = threading.Event()
    stop.set()
    watcher = threading.Thread(target=watch, daemon=True, args=(CREDS, Approval("msg_1"), uuid.uuid4(),
                                                                 "multimail-frw-1", time.monotonic() + 2, stop))
    watcher.start()
    watcher.join(5)
    assert not watcher.is_alive()
    assert fake.sent("list_pending") == []


def outbound(status: str, **fields) -> dict:
    return {"message_id": "msg_1", "direction": "outbound", "status": status, **fields}


def test_delivery_waits_through_queued_and_retries_until_sent(fake):
    fake.routes["read_email"] = script(outbound("queued"), outbound("sending"), outbound("sent"))
    assert wait_for_delivery(CREDS, "msg_1", timeout=30, poll_interval=0.05) == "sent"
    assert len(fake.sent("read_email")) == 3


def test_a_delivery_that_failed_or_never_goes_out_raises_what_happened(fake):
    fake.routes["read_email"] = script(outbound("queued"), outbound("failed", failure_reason="550 no such user"))
    with pytest.raises(DeliveryFailed) as failed:
        wait_for_delivery(CREDS, "msg_1", poll_interval=0.05)
    assert failed.value.failure_reason == "550 no such user" and "550 no such user" in str(failed.value)
    fake.routes["read_email"] = script(outbound("rejected"))
    with pytest.raises(MessageRejected):
        wait_for_delivery(CREDS, "msg_1")
    fake.routes["read_email"] = script(outbound("pending"))
    with pytest.raises(DeliveryTimeout):
        wait_for_delivery(CREDS, "msg_1", timeout=0.3, poll_interval=0.1)
    fake.routes["read_email"] = script({**outbound("received"), "direction": "inbound"})
    with pytest.raises(ValueError, match="inbound"):
        wait_for_delivery(CREDS, "msg_1")


def test_delivery_in_a_flow_polls_and_never_pauses_or_registers(fake):
    fake.routes["read_email"] = script(outbound("queued"), outbound("sent"))

    @flow
    async def notify() -> str:
        return await await_delivery(CREDS, "msg_1", poll_interval=0.05)

    assert asyncio.run(notify()) == "sent"
    assert not fake.sent("register_wait")
