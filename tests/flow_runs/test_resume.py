"""The server resumes paused Prefect flow runs itself: real flows, a real Prefect server
(prefect_test_harness) and a real MultiMail server configured with its API URL.

These flows pause with Prefect's own `pause_flow_run`, without the prefect-multimail package, so
they pin down the server's side of the contract: the run input is the outcome, the resume
happens within a second of the human acting, a human who acts before the run has paused is not
missed, and an outcome recorded while the server was down resumes the run after a restart.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import Api, ServerProcess, unique_address, wait_for

prefect = pytest.importorskip("prefect")
from prefect import flow  # noqa: E402
from prefect.context import get_run_context  # noqa: E402
from prefect.flow_runs import pause_flow_run  # noqa: E402
from prefect.input import RunInput  # noqa: E402


class Outcome(RunInput):
    model_config = {"extra": "allow"}
    kind: str
    status: str | None = None
    decision: str | None = None


def _gated(api: Api, box: str, run_id: str) -> str:
    return api.ok("POST", "send_email", {"from": box, "to": "bob@x.test", "subject": "Deploy?", "body": "ok?",
                                         "metadata": {"prefect": {"flow_run_id": run_id}}})["message_id"]


@pytest.fixture
def api(prefect_server) -> Api:
    return Api(prefect_server.base, prefect_server.admin_key)


@pytest.fixture
def box(api) -> str:
    address = unique_address("agent")
    api.ok("POST", "create_mailbox", {"address": address, "oversight_mode": "gated_send"})
    return address


def test_an_approval_resumes_the_paused_run_with_the_outcome_as_run_input(api, box):
    seen = {}

    @flow
    def gated():
        run_id = str(get_run_context().flow_run.id)
        msg = _gated(api, box, run_id)
        wait = api.ok("POST", "register_wait", {"flow_run_id": run_id, "message_id": msg})
        assert wait["resume"] == "prefect" and wait["status"] == "waiting"

        def human():
            time.sleep(1.0)
            seen["approved_at"] = time.monotonic()
            api.ok("POST", "approve_message", {"message_id": msg})

        threading.Thread(target=human).start()
        outcome = pause_flow_run(wait_for_input=Outcome, timeout=60, poll_interval=0.1, key=wait["pause_key"])
        seen["resumed_at"] = time.monotonic()
        return msg, outcome

    msg, outcome = gated()
    assert outcome.kind == "approval" and outcome.status == "approved" and outcome.message_id == msg
    assert seen["resumed_at"] - seen["approved_at"] < 2.0
    audit = api.ok("GET", "audit_log", message_id=msg)["events"]
    assert "flow_run.resumed" in [e["action"] for e in audit]


def test_a_human_who_acts_before_the_run_has_paused_is_not_missed(api, box):
    """Registered, then approved at once, then paused: the first resume finds the run still
    running; the server retries until the run has paused."""

    @flow
    def hurried():
        run_id = str(get_run_context().flow_run.id)
        msg = _gated(api, box, run_id)
        wait = api.ok("POST", "register_wait", {"flow_run_id": run_id, "message_id": msg})
        api.ok("POST", "reject_message", {"message_id": msg, "reason": "not today"})
        time.sleep(0.5)  # the server has tried to resume by now, and failed: the run is running
        return pause_flow_run(wait_for_input=Outcome, timeout=30, poll_interval=0.1, key=wait["pause_key"])

    outcome = hurried()
    assert outcome.status == "rejected" and outcome.reason == "not today"


def test_an_outcome_recorded_while_the_server_was_down_resumes_the_run_after_a_restart(tmp_path, prefect_api_url, db_url):
    """The approval commits together with the duty to resume; a server that was not running when
    it happened (here: approved from the CLI against the database) resumes the run on start."""
    data = tmp_path / "mm"
    env = {"MULTIMAIL_PREFECT_API_URL": prefect_api_url}
    srv = ServerProcess(data, database_url=db_url, env=env, smtp=False)
    api = Api(srv.base, srv.admin_key)
    address = unique_address("agent")
    api.ok("POST", "create_mailbox", {"address": address, "oversight_mode": "gated_send"})
    state: dict = {}

    @flow
    def patient():
        run_id = str(get_run_context().flow_run.id)
        state["msg"] = _gated(api, address, run_id)
        wait = api.ok("POST", "register_wait", {"flow_run_id": run_id, "message_id": state["msg"]})
        state["registered"] = True
        return pause_flow_run(wait_for_input=Outcome, timeout=90, poll_interval=0.2, key=wait["pause_key"])

    runner = threading.Thread(target=lambda: state.setdefault("outcome", patient()))
    runner.start()
    try:
        wait_for(lambda: state.get("registered"), timeout=30)
        srv.stop()
        done = subprocess.run([sys.executable, "-m", "multimail_server.cli", "approve", state["msg"], "--data-dir", str(data),
                               "--database-url", db_url],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        time.sleep(0.5)
        assert "outcome" not in state  # nobody resumed it: the server is down
        srv = ServerProcess(data, database_url=db_url, env=env, smtp=False)
        runner.join(timeout=30)
        assert state["outcome"].status == "approved"
    finally:
        srv.stop()
        runner.join(timeout=5)




def test_a_run_paused_for_something_else_is_never_resumed_by_naming_it(api, box, make_agent):
    """An agent names the flow run; it must not be able to resume a run that paused for a human
    in Prefect's UI by registering a wait on it and then cancelling its own message."""
    agent = make_agent(box)
    state: dict = {}

    @flow
    def waits_for_a_human_in_prefect():
        state["run_id"] = str(get_run_context().flow_run.id)
        try:
            pause_flow_run(timeout=3, poll_interval=0.1, key="human-review")
        except Exception as exc:  # FlowPauseTimeout: nobody resumed it
            return type(exc).__name__
        return "resumed"

    def attacker():
        wait_for(lambda: state.get("run_id"), timeout=30)
        time.sleep(0.3)
        msg = agent.ok("POST", "send_email", {"from": box, "to": "bob@x.test", "subject": "s", "body": "b"})["message_id"]
        state["wait"] = agent.ok("POST", "register_wait", {"flow_run_id": state["run_id"], "message_id": msg})
        agent.ok("POST", "cancel_message", {"message_id": msg})

    t = threading.Thread(target=attacker)
    t.start()
    assert waits_for_a_human_in_prefect() == "FlowPauseTimeout"
    t.join(10)
    wait = api.ok("POST", "register_wait", {"flow_run_id": state["run_id"], "message_id": state["wait"]["message_id"]})
    assert wait["resume_status"] != "resumed", wait


@pytest.fixture
def make_agent(api):
    def _make(box: str) -> Api:
        return Api(api.base, api.ok("POST", "create_api_key", {"role": "agent", "mailboxes": [box], "name": "agent"})["api_key"])
    return _make
