"""A long wait of a deployment run suspends it, and survives a worker restart.

Everything is real: the session's temporary Prefect server, a process work pool served by a
``prefect worker start`` subprocess, a deployment whose flow sends a held message and waits an
hour for its approval (so the default suspends it), and the session's MultiMail server, which
resumes runs through that Prefect API. The run suspends (its process exits), the worker is
killed and started again, an approver approves through the MultiMail API, and the run is
rescheduled, rerun from the top by the new worker and completes: the work before the wait is
read back from its persisted result, the mail was sent once (even though the server forgot the
send's idempotency key meanwhile, as it does after 24 h), the work after it ran once.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from flow_boxes import Box
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.context import FlowRunContext
from prefect.workers.process import ProcessWorker
from prefect_multimail import send_email, wait_for_approval
from sqlalchemy import create_engine, text

from multimail_server.testing import Api, ServerProcess, wait_for

FLOW_SOURCE = '''
"""The deployment's flow: prepare (a task whose result is persisted), send a held message,
wait an hour for its approval (so it suspends), then the follow-up work."""
import os
from pathlib import Path

from prefect import flow, task
from prefect_multimail import MultiMailCredentials, await_approval, send_email, wait_for_approval


@task
def prepare(workdir: str) -> str:
    with open(Path(workdir, "prepared.log"), "a") as f:
        f.write("prepared\\n")
    return "Revenue is up 12%."


@task
def follow_up(workdir: str, message_id: str, result: str) -> None:
    with open(Path(workdir, "follow_up.log"), "a") as f:
        f.write(f"{message_id} {result}\\n")


@flow(name="long-approval", persist_result=True)
DEF long_approval(api_key: str, base_url: str, sender: str, workdir: str) -> str:
    Path(workdir, "pids.log").open("a").write(f"{os.getpid()}\\n")
    credentials = MultiMailCredentials(api_key=api_key, base_url=base_url)
    body = prepare(workdir)
    message_id = send_email(credentials, sender=sender, to="ana@partner.test", subject="Q3 numbers", body=body)
    Path(workdir, "message_ids.log").open("a").write(message_id + "\\n")
    result = WAIT(credentials, message_id, timeout=3600)  # over 10 min: suspends
    follow_up(workdir, message_id, result)
    return result
'''


class Worker:
    """A ``prefect worker start`` subprocess serving one process work pool."""

    def __init__(self, pool: str, env: dict[str, str], log: Path):
        self.log = log
        with open(log, "a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"],
                stdout=out, stderr=subprocess.STDOUT, env=env)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def process_gone(pid: int) -> bool:
    """Whether the process ``pid`` has exited (a zombie that awaits its parent counts as exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def forget_idempotency_keys(server: ServerProcess) -> None:
    """What 24 h do to the server's idempotency keys (they expire), done at once."""
    engine = create_engine(server.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM idempotency"))
    finally:
        engine.dispose()


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def work_pool(prefect_api_url) -> str:
    name = f"mm-suspend-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=name, type="process",
                                               base_job_template=ProcessWorker.get_default_base_job_template()))
    yield name
    with get_client(sync_client=True) as client:
        client.delete_work_pool(name)


def deploy(workdir: Path, pool: str, kind: str) -> Any:
    """The deployment of the flow, a ``def`` flow with ``wait_for_approval`` or an ``async def``
    one with ``await await_approval``."""
    source = FLOW_SOURCE.replace("DEF", "def" if kind == "sync" else "async def")
    source = source.replace("WAIT", "wait_for_approval" if kind == "sync" else "await await_approval")
    (workdir / "long_flow.py").write_text(textwrap.dedent(source))
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("long-approval")
        return client.create_deployment(
            flow_id=flow_id, name=f"suspend-{pool}", work_pool_name=pool, entrypoint="long_flow.py:long_approval",
            path=str(workdir), enforce_parameter_schema=False,
            pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": str(workdir)}}])


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_suspended_run_survives_a_worker_restart_and_completes_once(gated: Box, prefect_api_url, work_pool, tmp_path,
                                                                      capsys, kind):
    started = time.perf_counter()
    workdir = tmp_path / "flow"
    workdir.mkdir()
    deployment_id = deploy(workdir, work_pool, kind)
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url, "PREFECT_HOME": str(tmp_path / "prefect-home"),
           "PREFECT_LOCAL_STORAGE_PATH": str(tmp_path / "results"), "PREFECT_WORKER_QUERY_SECONDS": "1",
           "PREFECT_WORKER_PREFETCH_SECONDS": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    log = tmp_path / "worker.log"
    worker = Worker(work_pool, env, log)
    try:
        with get_client(sync_client=True) as client:
            run = client.create_flow_run_from_deployment(
                deployment_id, parameters={"api_key": gated.credentials.api_key.get_secret_value(),
                                           "base_url": gated.server.base, "sender": gated.address,
                                           "workdir": str(workdir)})

            def state():
                return client.read_flow_run(run.id).state

            def failed_early() -> None:
                s = state()
                assert not (s and s.is_final()), f"the run ended: {s}\n{log.read_text()}"

            def suspended():
                failed_early()
                s = state()
                return s is not None and s.is_paused() and s.name == "Suspended"

            wait_for(suspended, timeout=60, what="the run to suspend")
            suspended_at = time.perf_counter()
            [first_pid] = lines(workdir / "pids.log")
            wait_for(lambda: process_gone(int(first_pid)), timeout=15, what="the flow's process to exit")
            [message_id] = lines(workdir / "message_ids.log")
            assert lines(workdir / "prepared.log") == ["prepared"]
            assert lines(workdir / "follow_up.log") == []  # nothing after the wait ran

            # the human takes more than a day: the server no longer knows the send's idempotency key
            forget_idempotency_keys(gated.server)
            worker.kill()  # and the worker restarts meanwhile
            worker = Worker(work_pool, env, log)

            approved = gated.approver.ok("POST", "approve_message", {"message_id": message_id, "note": "checked"})
            assert approved["status"] == "approved", approved
            approved_at = time.perf_counter()

            def completed():
                s = state()
                assert not (s and s.is_final() and not s.is_completed()), f"the run ended: {s}\n{log.read_text()}"
                return s is not None and s.is_completed()

            wait_for(completed, timeout=75, what="the rescheduled run to complete")
            completed_at = time.perf_counter()
            history = [(s.type.value, s.name) for s in client.read_flow_run_states(run.id)]
    finally:
        worker.kill()

    names = [name for _, name in history]
    assert "Suspended" in names and "Resuming" in names, history
    assert names.index("Suspended") < names.index("Resuming") < names.index("Completed"), history
    pids = lines(workdir / "pids.log")
    assert len(pids) == 2 and pids[0] != pids[1]  # the rerun is another process
    assert lines(workdir / "prepared.log") == ["prepared"]  # read back from its persisted result
    assert lines(workdir / "message_ids.log") == [message_id, message_id]  # the rerun found its message
    assert lines(workdir / "follow_up.log") == [f"{message_id} approved"]  # exactly once
    box_id = gated.server.query("SELECT id FROM mailboxes WHERE address = :a", a=gated.address)[0][0]
    sent = gated.server.query("SELECT id FROM messages WHERE mailbox_id = :b AND direction = 'outbound'", b=box_id)
    assert [row[0] for row in sent] == [message_id]  # one message, not a second one from the rerun
    admin = Api(gated.server.base, gated.server.admin_key)
    resumed = [e for e in admin.ok("GET", "audit_log", message_id=message_id)["events"] if e["action"] == "flow_run.resumed"]
    assert len(resumed) == 1 and resumed[0]["details"]["rescheduled"] is True, resumed  # by the server, onto a worker
    wait_for(lambda: gated.server.query("SELECT count(*) FROM captured_mail WHERE message_id = :m", m=message_id)[0][0],
             what="the approved mail to go out")
    time.sleep(0.5)
    assert gated.server.query("SELECT count(*) FROM captured_mail WHERE message_id = :m", m=message_id)[0][0] == 1
    with capsys.disabled():
        print(f"\n  suspend test ({kind}): suspended after {suspended_at - started:.1f} s, approval -> completed "
              f"{completed_at - approved_at:.1f} s, total {time.perf_counter() - started:.1f} s; states: "
              + " -> ".join(f"{t}({n})" for t, n in history))


def test_a_run_without_a_deployment_pauses_even_when_asked_to_suspend(gated: Box, caplog):
    """``suspend=True`` in a run that cannot be suspended (no deployment: nothing would run it
    again) pauses it in its process instead, says why, and the approval resumes it as usual."""
    seen: list = []

    @flow(name="local-long-approval", persist_result=True)
    def local_long_approval() -> str:
        message_id = send_email(gated.credentials, sender=gated.address, to="ana@partner.test",
                                subject="Local run", body="Hello.")
        seen.append((FlowRunContext.get().flow_run.id, message_id))
        return wait_for_approval(gated.credentials, message_id, timeout=3600, suspend=True)

    def approve_once_paused() -> None:
        def paused():
            if not seen:
                return None
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(seen[0][0]).state
            return state if state is not None and state.is_paused() else None

        state = wait_for(paused, timeout=30, what="the run to pause")
        seen.append(state.name)
        time.sleep(0.5)  # the run input schema is saved just after the pause
        gated.approver.ok("POST", "approve_message", {"message_id": seen[0][1]})

    human = threading.Thread(target=approve_once_paused, daemon=True)
    human.start()
    with caplog.at_level(logging.WARNING):
        assert local_long_approval() == "approved"
    human.join(10)
    assert seen[1] == "Paused"  # not "Suspended": its process held the wait
    assert any("cannot be suspended (it is not a run of a deployment)" in r.getMessage() for r in caplog.records), \
        [r.getMessage() for r in caplog.records]
