"""The blocking runner: carries out the steps of :mod:`.logic` with blocking I/O, and the
watcher beside a paused run as a daemon thread."""

from __future__ import annotations

import contextvars
import threading
import time
from typing import Any

from prefect.client.orchestration import get_client
from prefect.flow_runs import pause_flow_run, suspend_flow_run

from .._dual import call_sync
from ..credentials import MultiMailCredentials
from .logic import check_times, nudge_steps, wait_steps, watch_steps
from .prefect_run import module_logger
from .steps import FlowRunState, Pause, Request, Sleep, Step, Steps, Stopped, Suspend, Unwatch, Watch
from .targets import Target


class Blocking:
    """Blocking I/O for the steps: requests on ``api`` (MultiMail's client, or Prefect's), sleeps
    (cut short once ``stop``, the watcher's, is set); for a wait, the pause and its watcher."""

    def __init__(self, api: Any, credentials: MultiMailCredentials | None = None, stop: threading.Event | None = None):
        self.api, self.credentials, self.stop = api, credentials, stop
        self.watcher_stop: threading.Event | None = None

    def do(self, step: Step) -> Any:
        """Carry out one step; its result."""
        match step:
            case Request():
                return step.perform(self.api)
            case Sleep(seconds=seconds):
                return self.stop.wait(seconds) if self.stop is not None else time.sleep(seconds)
            case Stopped():
                return self.stop is not None and self.stop.is_set()
            case Watch():
                self.watch(step)
            case Unwatch():
                self.unwatch()
            case Pause():
                return call_sync(pause_flow_run, **step.arguments())
            case Suspend():
                return call_sync(suspend_flow_run, **step.arguments())  # raises Pause when it suspends
            case FlowRunState(flow_run_id=flow_run_id):
                with get_client(sync_client=True) as prefect:
                    return prefect.read_flow_run(flow_run_id).state
            case _:
                raise TypeError(f"Not a step of a MultiMail wait: {step!r}")
        return None

    def watch(self, step: Watch) -> None:
        if self.credentials is None:
            raise TypeError("Only a wait's own runner (which has the credentials) starts a watcher.")
        self.watcher_stop = stop = threading.Event()
        threading.Thread(target=contextvars.copy_context().run, daemon=True, name=f"multimail-watch-{step.wait_id}",
                         args=(watch, self.credentials, step.target, step.flow_run_id, step.pause_key, step.deadline,
                               stop)).start()

    def unwatch(self) -> None:
        if self.watcher_stop is not None:
            self.watcher_stop.set()


def run(steps: Steps, io: Blocking) -> Any:
    """Carry out ``steps`` with blocking I/O; their return value (or their exception)."""
    send, value = steps.send, None
    while True:
        try:
            step = send(value)
        except StopIteration as done:
            return done.value
        try:
            send, value = steps.send, io.do(step)
        except Exception as exc:
            send, value = steps.throw, exc


def watch(credentials: MultiMailCredentials, target: Target, flow_run_id: Any, pause_key: str, deadline: float,
          stop: threading.Event) -> None:
    """Beside a paused run: resume it if the outcome arrives and the server's resume does not, and
    at the deadline. Never raises (it is a safety net; the wait itself decides everything)."""
    try:
        with credentials.get_client() as client:
            nudge, grace = run(watch_steps(target, deadline), Blocking(client, stop=stop))
        if nudge is None or (grace and stop.wait(grace)):
            return
        with get_client(sync_client=True) as prefect:
            run(nudge_steps(flow_run_id, pause_key, nudge, deadline), Blocking(prefect, stop=stop))
    except Exception:
        module_logger.debug("The MultiMail wait watcher stopped", exc_info=True)


def wait(credentials: MultiMailCredentials, target: Target, timeout: float, poll_interval: float,
         suspend: bool | None = None) -> Any:
    """The whole wait for ``target``, blocking; the watcher is stopped however it ends."""
    check_times(timeout, poll_interval)
    deadline = time.monotonic() + timeout
    with credentials.get_client() as client:
        io = Blocking(client, credentials)
        try:
            return run(wait_steps(target, deadline, timeout, poll_interval, suspend), io)
        finally:
            io.unwatch()
