"""The steps of a wait: each is one piece of I/O the wait logic asks for, as a typed value.

The logic (:mod:`.logic`) is written once, as generators that ``yield`` these steps and receive
their results (or have their exceptions thrown in); the two runners (:mod:`.blocking`,
:mod:`.async_`) carry them out with ``match step:``. So the decisions of a wait live in one
place, and the runners only do what they are told.

A :class:`Request` knows how to make its call on a client: the blocking runner gets the answer
back, the async runner awaits it. The other steps are the things only a runner can do (sleep,
pause or suspend the flow run, start or stop the watcher beside it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Union

# -- calls on a client ------------------------------------------------------------------------


class Request(ABC):
    """A call on the runner's client: MultiMail's SDK, or Prefect's in the watcher's second half."""

    @abstractmethod
    def perform(self, api: Any) -> Any:
        """Make the call on ``api``: its answer (sync client) or awaitable (async client)."""


@dataclass(frozen=True)
class ListPending(Request):
    """The approval item of one message (a long-poll of ``wait`` s when set)."""

    message_id: str
    wait: float | None = None

    def perform(self, api: Any) -> Any:
        return api.list_pending(message_id=self.message_id, wait=self.wait)


@dataclass(frozen=True)
class ReadEmail(Request):
    """The message itself (to tell "never held" from a server that ignored ``message_id``)."""

    message_id: str

    def perform(self, api: Any) -> Any:
        return api.read_email(self.message_id)


@dataclass(frozen=True)
class GetThread(Request):
    """A decision's thread (a long-poll for a message after ``after_message_id`` when ``wait``)."""

    thread_id: str
    wait: float | None = None
    after_message_id: str | None = None

    def perform(self, api: Any) -> Any:
        return api.get_thread(self.thread_id, wait=self.wait, after_message_id=self.after_message_id)


@dataclass(frozen=True)
class Register(Request):
    """Register (or confirm) the wait of a flow run with the MultiMail server (``register_wait``)."""

    flow_run_id: str
    message_id: str | None = None
    thread_id: str | None = None

    def perform(self, api: Any) -> Any:
        return api.register_wait(self.flow_run_id, message_id=self.message_id, thread_id=self.thread_id)


@dataclass(frozen=True)
class ReadFlowRun(Request):
    """The flow run, on Prefect's client (the watcher looks whether it is paused, and how)."""

    flow_run_id: Any

    def perform(self, api: Any) -> Any:
        return api.read_flow_run(self.flow_run_id)


@dataclass(frozen=True)
class ResumeFlowRun(Request):
    """Resume the flow run with ``run_input``, on Prefect's client (the watcher's nudge)."""

    flow_run_id: Any
    run_input: Any

    def perform(self, api: Any) -> Any:
        return api.resume_flow_run(self.flow_run_id, run_input=self.run_input)


# -- what only a runner can do ----------------------------------------------------------------


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` (the blocking watcher's sleep ends early once it is told to stop)."""

    seconds: float


@dataclass(frozen=True)
class Stopped:
    """Whether the watcher has been told to stop (the result is a bool)."""


@dataclass(frozen=True)
class Pause:
    """Pause the flow run until it is resumed with a run input of type ``wait_for_input``."""

    wait_for_input: type
    timeout: int
    poll_interval: float
    key: str

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of Prefect's ``pause_flow_run`` / ``apause_flow_run``."""
        return {"wait_for_input": self.wait_for_input, "timeout": self.timeout,
                "poll_interval": self.poll_interval, "key": self.key}


@dataclass(frozen=True)
class Suspend:
    """Suspend the flow run (its process exits) until it is resumed with a ``wait_for_input``;
    Prefect then reschedules it on a worker and the flow runs again from the top.

    The step returns only when this suspension already fired: in the rerun after the resume,
    with the run input Prefect kept. When it suspends, Prefect's ``Pause`` signal (a
    ``BaseException``) ends the flow function, and the runners let it through.
    """

    wait_for_input: type
    timeout: int
    key: str

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of Prefect's ``suspend_flow_run`` / ``asuspend_flow_run``."""
        return {"wait_for_input": self.wait_for_input, "timeout": self.timeout, "key": self.key}


@dataclass(frozen=True)
class FlowRunState:
    """The state of the flow run, read through a Prefect client of the runner's own."""

    flow_run_id: Any


@dataclass(frozen=True)
class Watch:
    """Start the watcher beside the paused run (see :func:`.logic.watch_steps`)."""

    target: Any  # a targets.Target (targets.py builds its steps from these, so this module names none of it)
    flow_run_id: Any
    pause_key: str
    deadline: float
    wait_id: str


@dataclass(frozen=True)
class Unwatch:
    """Stop the watcher, if one was started."""


Step = Union[ListPending, ReadEmail, GetThread, Register, ReadFlowRun, ResumeFlowRun,
             Sleep, Stopped, Pause, Suspend, FlowRunState, Watch, Unwatch]
Steps = Generator[Step, Any, Any]
