"""Waiting for a human in real flow runs: a MultiMail server configured with the session's Prefect
API resumes the paused run the moment an approver decides or an answer arrives by SMTP; the
resumed run confirms the outcome with MultiMail; outside a flow the wait long-polls.

The human acts from another thread once the flow run is Paused (read through the Prefect API),
as an approver in the dashboard or a recipient's mail client would."""

from __future__ import annotations

import asyncio
import contextvars
import smtplib
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from flow_boxes import Box, make_box
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect_multimail import (
    ApprovalTimeout,
    MessageRejected,
    await_approval,
    decide_email,
    send_email,
    wait_for_approval,
    wait_for_decision,
    wait_for_delivery,
)

from multimail_server.testing import Api, ServerProcess, free_port, start_session_server, wait_for

ASKED = "bob.boss@partner.test"  # partner.test passes SPF in the session DNS, so its replies may decide


def flow_run_state(flow_run_id: Any):
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).state


class Human:
    """Acts in a background thread once `ready()` is true; records when it started acting."""

    def __init__(self, ready: Callable[[], bool], act: Callable[[], Any], timeout: float = 30.0, settle: float = 0.5):
        self.acted_at: float | None = None
        self.error: BaseException | None = None
        self._ready, self._act, self._timeout, self._settle = ready, act, timeout, settle
        self.thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run,), daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            wait_for(self._ready, timeout=self._timeout)
            time.sleep(self._settle)  # a human is not faster than the pause itself (input schema saved)
            self.acted_at = time.perf_counter()
            self._act()
        except BaseException as exc:  # surfaced by join()
            self.error = exc

    def join(self) -> None:
        self.thread.join(self._timeout + 5)
        if self.error is not None:
            raise self.error


def paused(runs: list) -> Callable[[], bool]:
    def ready() -> bool:
        if not runs:
            return False
        state = flow_run_state(runs[0][0])
        return bool(state and state.is_paused())
    return ready


def audit_actions(box: Box, message_id: str) -> list[str]:
    admin = Api(box.server.base, box.server.admin_key)
    return [e["action"] for e in admin.ok("GET", "audit_log", message_id=message_id)["events"]]


def gated_flow(box: Box, runs: list, **wait_kwargs):
    @flow(name="gated-digest")
    def gated_digest():
        message_id = send_email(box.credentials, sender=box.address, to="ana@partner.test",
                                subject="Daily digest", body="Revenue is up 12%.")
        runs.append((FlowRunContext.get().flow_run.id, message_id))
        return wait_for_approval(box.credentials, message_id, **wait_kwargs), time.perf_counter()

    return gated_digest


def test_an_approval_resumes_the_paused_flow_run(gated: Box, capsys):
    runs: list = []
    human = Human(paused(runs), lambda: gated.approver.ok("POST", "approve_message",
                                                          {"message_id": runs[0][1], "note": "numbers checked"}))
    result, returned_at = gated_flow(gated, runs, timeout=60)()
    human.join()
    assert result == "approved"
    latency = returned_at - human.acted_at
    with capsys.disabled():
        print(f"\n  approval -> paused flow run returned: {latency * 1000:.0f} ms")
    # The figure depends mostly on the server's resume worker; the bound only catches a resume
    # that did not happen (the wait would then go on until the watcher steps in, 3 s later).
    assert latency < 5.0, f"the flow took {latency:.2f} s to resume after the approval"
    assert gated.agent.ok("GET", "read_email", message_id=runs[0][1])["status"] in ("queued", "sending", "sent")
    assert "flow_run.resumed" in audit_actions(gated, runs[0][1])  # the server resumed it, not the watcher


def test_wait_for_delivery_returns_once_the_approved_mail_went_out(gated: Box):
    """`wait_for_approval` returning means a human let the mail go; `wait_for_delivery` is the
    step that knows it is out (the session server is in capture mode: it is `sent` at once)."""
    runs: list = []

    @flow(name="gated-then-delivered")
    def gated_then_delivered():
        message_id = send_email(gated.credentials, sender=gated.address, to="ana@partner.test",
                                subject="Board pack", body="Attached soon.")
        runs.append((FlowRunContext.get().flow_run.id, message_id))
        approval = wait_for_approval(gated.credentials, message_id, timeout=60)
        return approval, wait_for_delivery(gated.credentials, message_id, timeout=60, poll_interval=0.2)

    human = Human(paused(runs), lambda: gated.approver.ok("POST", "approve_message", {"message_id": runs[0][1]}))
    assert gated_then_delivered() == ("approved", "sent")
    human.join()
    assert gated.agent.ok("GET", "read_email", message_id=runs[0][1])["status"] == "sent"


def test_a_rejection_fails_the_flow_run_with_message_rejected(gated: Box):
    runs: list = []
    human = Human(paused(runs), lambda: gated.approver.ok("POST", "reject_message",
                                                          {"message_id": runs[0][1], "reason": "wrong recipient"}))
    state = gated_flow(gated, runs, timeout=60)(return_state=True)
    human.join()
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, MessageRejected)
    assert error.reason == "wrong recipient" and error.decided_by and error.message_id == runs[0][1]


def test_a_forged_resume_is_not_taken_for_an_approval(gated: Box):
    """Someone with access to Prefect resumes the run with a made-up approval: the run checks with
    MultiMail, keeps waiting, and ends with the approver's real decision."""
    runs: list = []

    def forge_then_reject() -> None:
        forged = {"kind": "approval", "message_id": runs[0][1], "status": "approved", "decided_by": "mallory"}
        with get_client(sync_client=True) as client:
            # Retried until the paused run has saved its input schema (Prefect refuses input before).
            wait_for(lambda: client.resume_flow_run(runs[0][0], run_input=forged).status.value == "ACCEPT", timeout=10)
        wait_for(lambda: flow_run_state(runs[0][0]).is_running(), timeout=10)
        time.sleep(1.0)  # the run is back to waiting (long-polling MultiMail now)
        gated.approver.ok("POST", "reject_message", {"message_id": runs[0][1], "reason": "not approved at all"})

    human = Human(paused(runs), forge_then_reject, settle=0)
    state = gated_flow(gated, runs, timeout=60)(return_state=True)
    human.join()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, MessageRejected) and error.reason == "not approved at all"


def test_a_timeout_in_a_paused_run_is_catchable(gated: Box):
    """At the deadline the run is resumed and the timeout raised in a running flow (so it can be
    handled), not left to Prefect's pause expiry, after which a run can only fail."""
    runs: list = []

    @flow
    def patient():
        message_id = send_email(gated.credentials, sender=gated.address, to="ana@partner.test", subject="s", body="b")
        runs.append((FlowRunContext.get().flow_run.id, message_id))
        try:
            wait_for_approval(gated.credentials, message_id, timeout=2)
        except ApprovalTimeout as exc:
            return f"gave up after {exc.timeout:g} s"
        return "approved?"

    started = time.monotonic()
    assert patient() == "gave up after 2 s"
    assert time.monotonic() - started < 15
    assert flow_run_state(runs[0][0]).is_completed()
    # The message itself is untouched: still waiting for a human.
    assert gated.agent.ok("GET", "list_pending", message_id=runs[0][1])["messages"][0]["status"] == "pending"


def test_a_message_that_went_straight_out_needs_no_wait(prefect_server, mm_admin):
    box = make_box(prefect_server, mm_admin, oversight_mode="autonomous")

    @flow
    def straight():
        message_id = send_email(box.credentials, sender=box.address, to="ana@partner.test", subject="s", body="b")
        return wait_for_approval(box.credentials, message_id, timeout=5)

    assert straight() == "not_required"


def send_reply(server, question: dict, mailbox: str, text: str) -> None:
    mail = EmailMessage()
    mail["From"] = f"Bob Boss <{ASKED}>"
    mail["To"] = mailbox
    mail["Subject"] = "Re: " + question["subject"]
    mail["Message-ID"] = make_msgid(domain="partner.test")
    mail["In-Reply-To"] = question["internet_message_id"]
    mail["References"] = question["internet_message_id"]
    mail.set_content(f"{text}\n\nOn Monday the agent wrote:\n> {question['body'][:60]}\n")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=20) as smtp:
        smtp.send_message(mail, from_addr=ASKED, to_addrs=[mailbox])


def test_a_decision_answered_by_email_resumes_the_flow_run(prefect_server, mm_admin, capsys):
    box = make_box(prefect_server, mm_admin, oversight_mode="autonomous")
    runs: list = []

    @flow(name="release-decision")
    def release():
        thread_id = decide_email(box.credentials, sender=box.address, to=f"Bob Boss <{ASKED}>",
                                 question="Ship the release on Monday?", options=["Ship", "Hold"])
        runs.append((FlowRunContext.get().flow_run.id, thread_id))
        return wait_for_decision(box.credentials, thread_id, timeout=60), time.perf_counter()

    def answer() -> None:
        thread = box.agent.ok("GET", "get_thread", thread_id=runs[0][1])
        question = wait_for(lambda: (m := box.agent.ok("GET", "read_email", message_id=thread["messages"][0]["message_id"]))
                            ["status"] == "sent" and m)
        send_reply(prefect_server, question, box.address, "Hold")

    human = Human(paused(runs), answer)
    choice, returned_at = release()
    human.join()
    assert choice == "Hold"
    with capsys.disabled():
        print(f"\n  reply over SMTP -> paused flow run returned: {(returned_at - human.acted_at) * 1000:.0f} ms")
    assert returned_at - human.acted_at < 5.0


def test_outside_a_flow_the_wait_long_polls(gated: Box, capsys):
    message_id = gated.agent.ok("POST", "send_email", {"from": gated.address, "to": "ana@partner.test",
                                                       "subject": "No flow here", "body": "b"})["message_id"]
    human = Human(lambda: True, lambda: gated.approver.ok("POST", "approve_message", {"message_id": message_id}))
    started = time.perf_counter()
    assert wait_for_approval(gated.credentials, message_id, timeout=30) == "approved"
    returned_at = time.perf_counter()
    human.join()
    with capsys.disabled():
        print(f"\n  approval -> long-polling wait returned: {(returned_at - human.acted_at) * 1000:.0f} ms")
    assert returned_at - human.acted_at < 1.0 and returned_at - started < 5


def test_a_question_rejected_while_the_run_is_paused_fails_it(gated: Box):
    """Nobody will answer a question an approver rejected; the server resumes decision waits only
    on answers, so the watcher beside the paused run notices and wakes it up."""
    runs: list = []

    @flow
    def ask():
        thread_id = decide_email(gated.credentials, sender=gated.address, to=f"Bob Boss <{ASKED}>",
                                 question="Raise prices?", options=["Yes", "No"])
        question_id = gated.agent.ok("GET", "get_thread", thread_id=thread_id)["messages"][0]["message_id"]
        runs.append((FlowRunContext.get().flow_run.id, question_id))
        return wait_for_decision(gated.credentials, thread_id, timeout=60)

    human = Human(paused(runs), lambda: gated.approver.ok("POST", "reject_message",
                                                          {"message_id": runs[0][1], "reason": "not now"}))
    started = time.monotonic()
    state = ask(return_state=True)
    human.join()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, MessageRejected) and error.reason == "not now"
    assert time.monotonic() - started < 15


@pytest.fixture(scope="module")
def unreachable_prefect_server(tmp_path_factory):
    """A MultiMail server whose Prefect API does not answer: it promises to resume runs and can't."""
    srv = ServerProcess(tmp_path_factory.mktemp("no-prefect"),
                        env={"MULTIMAIL_PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"}, smtp=False)
    yield srv
    srv.stop()


def test_when_the_servers_resume_does_not_arrive_the_watcher_resumes_the_run(unreachable_prefect_server):
    box = make_box(unreachable_prefect_server, Api(unreachable_prefect_server.base, unreachable_prefect_server.admin_key))
    runs: list = []
    human = Human(paused(runs), lambda: box.approver.ok("POST", "approve_message", {"message_id": runs[0][1]}))
    result, returned_at = gated_flow(box, runs, timeout=60)()
    human.join()
    assert result == "approved"
    assert 2.5 < returned_at - human.acted_at < 8  # the watcher leaves the server 3 s first


def test_an_async_flow_pauses_and_resumes_the_same_way(gated: Box):
    runs: list = []

    @flow
    async def gated_async():
        message_id = send_email(gated.credentials, sender=gated.address, to="ana@partner.test", subject="s", body="b")
        runs.append((FlowRunContext.get().flow_run.id, message_id))
        return await await_approval(gated.credentials, message_id, timeout=60), time.perf_counter()

    human = Human(paused(runs), lambda: gated.approver.ok("POST", "approve_message", {"message_id": runs[0][1]}))
    result, returned_at = asyncio.run(gated_async())
    human.join()
    assert result == "approved" and returned_at - human.acted_at < 5.0
    assert "flow_run.resumed" in audit_actions(gated, runs[0][1])


def test_a_paused_run_survives_a_multimail_restart_around_the_approval(prefect_api_url, tmp_path):
    """The issue's story: a run waits (Paused); `multimail serve` stops; an operator approves at
    the terminal (the CLI writes the database); the run is resumed while MultiMail is down (here
    by hand, as the watcher does once it saw the outcome, or a server that stopped right after
    its resume); MultiMail comes back seconds later. The run's calls after the resume meet a
    server that is not there: they must be waited out, and the follow-up work run, once."""
    srv = start_session_server(tmp_path, env={"MULTIMAIL_PREFECT_API_URL": prefect_api_url})
    try:
        box = make_box(srv, Api(srv.base, srv.admin_key))
        runs: list = []
        followed: list = []

        def approve_while_the_server_is_down() -> None:
            srv.stop()
            subprocess.run([sys.executable, "-m", "multimail_server.cli", "approve", runs[0][1], "--data-dir",
                            str(srv.data_dir)], check=True, capture_output=True, timeout=60)
            with get_client(sync_client=True) as prefect:
                answer = prefect.resume_flow_run(runs[0][0], run_input={"kind": "approval", "status": "approved"})
            assert answer.status.value == "ACCEPT", answer
            time.sleep(4)  # longer than the SDK's own retries of one call
            srv.restart()

        @flow(name="gated-across-a-restart")
        def gated_across_a_restart():
            message_id = send_email(box.credentials, sender=box.address, to="ana@partner.test",
                                    subject="Weekly numbers", body="Revenue is up 3%.")
            runs.append((FlowRunContext.get().flow_run.id, message_id))
            result = wait_for_approval(box.credentials, message_id, timeout=120)
            followed.append(wait_for_delivery(box.credentials, message_id, timeout=60))
            return result

        human = Human(paused(runs), approve_while_the_server_is_down, timeout=60)
        state = gated_across_a_restart(return_state=True)
        human.join()
        assert state.is_completed(), state.result(raise_on_failure=False)
        assert state.result() == "approved"
        assert followed == ["sent"]
    finally:
        srv.stop()
