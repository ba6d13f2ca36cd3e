"""A deployed flow (served by a Runner in another process) sends a gated message and pauses for
its approval; cancelling the run through Prefect makes `cancel_pending_mail` withdraw the message,
so an approver can no longer send mail for a run that no longer exists."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from flow_boxes import Box
from prefect.client.orchestration import get_client
from prefect.states import Cancelling

from multimail_server.testing import wait_for

FLOW_SCRIPT = textwrap.dedent('''
    from prefect import flow
    from prefect_multimail import MultiMailCredentials, cancel_pending_mail, send_email, wait_for_approval


    @flow(name="gated-runner-flow", on_cancellation=[cancel_pending_mail], on_crashed=[cancel_pending_mail])
    def gated_runner_flow(address: str):
        credentials = MultiMailCredentials()  # MULTIMAIL_API_KEY / MULTIMAIL_BASE_URL of the worker
        message_id = send_email(credentials, sender=address, to="ana@partner.test",
                                subject="Contract renewal", body="Shall we renew?")
        wait_for_approval(credentials, message_id, timeout=300)


    if __name__ == "__main__":
        gated_runner_flow.serve(name="runner-test", limit=2, print_starting_message=False)
''')


@pytest.fixture
def served_flow(tmp_path, prefect_api_url, gated: Box):
    script = tmp_path / "gated_runner_flow.py"
    script.write_text(FLOW_SCRIPT)
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url, "PREFECT_RUNNER_POLL_FREQUENCY": "1",
           "MULTIMAIL_API_KEY": gated.credentials.resolved_api_key(), "MULTIMAIL_BASE_URL": gated.server.base}
    env.pop("MULTIMAIL_CREDENTIALS_BLOCK", None)
    log = open(tmp_path / "runner.log", "w")
    # Its own process group: the runner and the flow-run processes it starts go away together.
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        with get_client(sync_client=True) as client:
            def deployment():
                assert proc.poll() is None, (tmp_path / "runner.log").read_text()
                try:
                    return client.read_deployment_by_name("gated-runner-flow/runner-test")
                except Exception:
                    return None
            yield wait_for(deployment, timeout=60), proc, tmp_path / "runner.log"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # nothing left to do gracefully: its run was cancelled
        except ProcessLookupError:
            pass
        proc.wait(10)
        log.close()


def test_cancelling_a_paused_run_withdraws_its_pending_mail(served_flow, gated: Box):
    deployment, proc, log = served_flow
    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(deployment.id, parameters={"address": gated.address})

        def paused():
            assert proc.poll() is None, log.read_text()
            state = client.read_flow_run(run.id).state
            assert not state.is_final(), f"{state!r}\n{log.read_text()}"
            return state.is_paused()

        wait_for(paused, timeout=60)
        [item] = gated.agent.ok("GET", "list_pending", flow_run_id=str(run.id))["messages"]
        assert item["status"] == "pending"
        assert item["metadata"]["prefect"]["deployment_id"] == str(deployment.id)

        started = time.monotonic()
        client.set_flow_run_state(run.id, Cancelling(), force=True)

        def withdrawn():
            return gated.agent.ok("GET", "list_pending", message_id=item["message_id"])["messages"][0]["status"] == "cancelled"

        wait_for(withdrawn, timeout=45)
        took = time.monotonic() - started
        [after] = gated.agent.ok("GET", "list_pending", message_id=item["message_id"])["messages"]
        assert str(run.id) in after["decision_note"] and "Cancel" in after["decision_note"]
        wait_for(lambda: client.read_flow_run(run.id).state.is_cancelled(), timeout=30)
    # An approver who comes too late cannot send it any more.
    late = gated.approver.post("approve_message", {"message_id": item["message_id"]})
    assert late.status_code == 409
    assert took < 30
