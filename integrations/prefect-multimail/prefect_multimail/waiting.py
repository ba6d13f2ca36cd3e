"""Waiting for a human: the approval of a held message, or the answer to a decide_email question.

How a wait works, and why:

1. **Inside a flow run** (called from the flow function itself), the wait is registered with the
   MultiMail server (``register_wait``). If the outcome is already there (the approver was quick,
   or the message was never held), it is used at once.
2. If the server has a Prefect API configured (``resume == "prefect"``), the flow run **pauses**
   (``pause_flow_run``, with a run input that accepts the outcome). A paused run holds no task
   slot and shows as *Paused* in the UI; the MultiMail server resumes it with the outcome the
   moment the approver decides or the answer arrives, and the flow notices within
   ``poll_interval`` seconds (the default 0.5 s, instead of Prefect's 10 s).
3. After the resume the outcome is **confirmed with the MultiMail server** (``register_wait``
   again): the server is the source of truth, and anyone with access to Prefect could resume the
   run with input of their choosing. An outcome the server does not confirm is logged and ignored,
   and the wait goes on.
4. While the run is paused, a small watcher beside it long-polls the MultiMail server too. Should
   the server's resume not arrive (a restart, a network split between MultiMail and Prefect), the
   watcher resumes the run itself a few seconds after the outcome; at the wait's deadline it
   resumes the run so that the timeout surfaces as :class:`~prefect_multimail.exceptions.WaitTimeout`
   in a *running* flow (catchable), not as a pause that Prefect expires (after which the run
   can only fail).
5. **Outside a flow run**, inside a task, or when the server cannot resume runs
   (``resume == "none"``), the wait **long-polls** the server instead (``list_pending`` /
   ``get_thread`` with ``wait``): one request per minute at most while nothing happens, an answer
   within milliseconds when something does.

Sync and async: :func:`wait_for_approval` and :func:`wait_for_decision` block; in ``async def``
flows and tasks use their async twins :func:`await_approval` and :func:`await_decision`. The
blocking ones refuse to run in an async flow's event loop (``TypeError``) rather than hand back a
coroutine: a gate that is skipped because someone forgot an ``await`` would let the flow go on
without the human's approval. Wait for one thing at a time in a flow run (a flow run has one
pause at a time).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import re
import threading
import time
from typing import Any, Generator, Literal, Mapping, Union

import pydantic
from pydantic import ConfigDict, Field

from multimail.client.errors import ConnectionError as MultiMailConnectionError
from multimail.client.errors import RateLimited, ServerError
from prefect.client.orchestration import get_client
from prefect.client.schemas.responses import SetStateStatus
from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import FlowPauseTimeout, MissingContextError
from prefect.flow_runs import apause_flow_run, pause_flow_run
from prefect.input import RunInput
from prefect.logging import get_run_logger

from ._context import attempt_state
from .credentials import MultiMailCredentials
from .exceptions import (
    ApprovalTimeout,
    DecisionTimeout,
    MessageCancelled,
    MessageRejected,
    MultiMailWaitError,
    WaitTimeout,
)

__all__ = ["wait_for_approval", "wait_for_decision", "await_approval", "await_decision", "MultiMailOutcome"]

ApprovalResult = Literal["approved", "not_required"]

LONG_POLL_SECONDS = 55.0  # one long-poll request; the server holds at most 60 s
WATCH_POLL_SECONDS = 55.0  # the watcher's long-polls: the server answers at once on a change, so long is cheap
RESUME_GRACE_SECONDS = 3.0  # how long the watcher leaves the MultiMail server to resume the run
PAUSE_TIMEOUT_MARGIN = 30.0  # the Prefect pause outlives the wait; the watcher ends it at the deadline
NUDGE_SOURCE = "prefect-multimail"  # marks the run inputs the watcher resumes with

_TRANSIENT = (MultiMailConnectionError, ServerError, RateLimited)
_module_logger = logging.getLogger("prefect_multimail")


class MultiMailOutcome(RunInput):
    """The run input a paused flow run is resumed with: the MultiMail server's outcome object.

    Only ``kind`` is required and unknown fields are kept, so the server can add fields to its
    outcomes without breaking a paused run. What arrives here is never trusted as such: the wait
    confirms it with the server before acting on it.
    """

    model_config = ConfigDict(extra="allow")

    kind: str = Field(description="approval or decision.")
    message_id: str | None = Field(default=None, description="The held message, or the reply that decided.")
    status: str | None = Field(default=None, description="approved, rejected, cancelled or not_required.")
    decided_by: str | None = Field(default=None, description="Who approved or rejected.")
    decided_at: str | None = Field(default=None, description="When (ISO 8601).")
    reason: str | None = Field(default=None, description="The approver's reason or note.")
    thread_id: str | None = Field(default=None, description="The decision's thread.")
    question_message_id: str | None = Field(default=None, description="The question's message.")
    decision: str | None = Field(default=None, description="The chosen option.")


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:
        return _module_logger


def _check_times(timeout: float, poll_interval: float) -> None:
    if timeout is None or timeout < 0:
        raise ValueError(f"timeout must be a number of seconds >= 0, got {timeout!r}")
    if poll_interval is None or poll_interval <= 0:
        raise ValueError(f"poll_interval must be a number of seconds > 0, got {poll_interval!r}")


def _in_async_run() -> bool:
    """Whether we are in the event loop of an async flow (or task) run, where a blocking wait
    cannot pause the run (Prefect's pause helpers turn async there)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    task_ctx = TaskRunContext.get()
    if task_ctx is not None and task_ctx.task is not None:
        return bool(task_ctx.task.isasync)
    flow_ctx = FlowRunContext.get()
    return bool(flow_ctx is not None and flow_ctx.flow is not None and flow_ctx.flow.isasync)


def _refuse_async(name: str, twin: str) -> None:
    if _in_async_run():
        raise TypeError(f"{name}() blocks; in an async flow or task use `await {twin}(...)` instead.")


def _pausable_context() -> FlowRunContext | None:
    """The flow run context when the caller is a flow function's body (a run that may pause).

    Inside a task the flow is not paused (other tasks may be running, and the task would hold
    its slot anyway): the wait long-polls there.
    """
    if TaskRunContext.get() is not None:
        return None
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return None
    return ctx


def _pause_key(flow_ctx: FlowRunContext, wait_id: str, issued: str | None = None) -> str:
    """``multimail-<wait id>`` in the alphabet Prefect allows in run-input keys (lowercase letters,
    digits, dashes: ``frw_ab12`` becomes ``frw-ab12``), made unique within this flow-run attempt:
    Prefect refuses a pause key that already fired (a second wait for the same message after a
    caught timeout)."""
    used: set[str] = attempt_state(flow_ctx).setdefault("pause_keys", set())
    # the key register_wait hands out (the server resumes only from that pause); derived the
    # same way for an older server that does not say
    base = issued or "multimail-" + re.sub(r"[^a-z0-9-]+", "-", str(wait_id).lower()).strip("-")
    key, n = base, 1
    while key in used:
        n += 1
        key = f"{base}-{n}"
    used.add(key)
    return key


# -- what is awaited --------------------------------------------------------------------------


def _approval_outcome(message_id: str, answer: Mapping[str, Any]) -> dict[str, Any] | None:
    """The approval outcome in a ``list_pending(message_id=...)`` answer, or None while pending."""
    items = [m for m in answer.get("messages", []) if m.get("message_id") == message_id]
    if not items:  # never held for approval: it went (or goes) straight out
        return {"kind": "approval", "message_id": message_id, "status": "not_required",
                "decided_by": None, "decided_at": None, "reason": None}
    item = items[0]
    if item.get("status") == "pending":
        return None
    return {"kind": "approval", "message_id": message_id, "status": item.get("status"),
            "decided_by": item.get("decided_by"), "decided_at": item.get("decided_at"), "reason": item.get("decision_note")}


def _confirm_never_held(message_id: str, message: Any) -> None:
    """No approval item means "never held" only if the message says so too: a server that
    ignored `message_id` (an older one, or another implementation) must not let a flow go on."""
    status = message.get("approval_status") if isinstance(message, Mapping) else getattr(message, "approval_status", None)
    if status is not None:
        raise MultiMailWaitError(f"Message {message_id} is {status} for approval, but list_pending did not list it; "
                                 "not taking that for 'no approval needed'.", message_id=message_id)


def _question_of(thread: Mapping[str, Any]) -> Mapping[str, Any]:
    question = next((m for m in thread.get("messages", []) if m.get("options")), None)
    if question is None:
        raise ValueError(f"Thread {thread.get('thread_id')} has no decide_email question to wait for.")
    return question


def _decision_outcome(thread: Mapping[str, Any]) -> dict[str, Any] | None:
    """The decision in a ``get_thread`` answer (the first reply that chose an option), or None."""
    question = _question_of(thread)
    reply = next((m for m in thread.get("messages", []) if m.get("is_reply") and m.get("decision")), None)
    if reply is None:
        return None
    return {"kind": "decision", "thread_id": thread.get("thread_id"), "question_message_id": question.get("message_id"),
            "message_id": reply.get("message_id"), "decision": reply.get("decision"), "from": reply.get("from")}


def _refusal(outcome: Mapping[str, Any], what: str, **ids: Any) -> MultiMailWaitError | None:
    """The error for an approval outcome that means "this will never go out", else None."""
    status = outcome.get("status")
    by, reason = outcome.get("decided_by"), outcome.get("reason")
    detail = f" by {by}" if by else ""
    detail += f": {reason}" if reason else ""
    if status == "rejected":
        return MessageRejected(f"{what} was rejected{detail}.", reason=reason, decided_by=by,
                               decided_at=outcome.get("decided_at"), outcome=outcome, **ids)
    if status == "cancelled":
        return MessageCancelled(f"{what} was cancelled{detail}.", reason=reason, decided_by=by, outcome=outcome, **ids)
    return None


class _Approval:
    kind = "approval"

    def __init__(self, message_id: str):
        if not isinstance(message_id, str) or not message_id:
            raise ValueError(f"message_id must be a message id (msg_...), got {message_id!r}")
        self.message_id = message_id

    def fresh(self) -> "_Approval":
        return _Approval(self.message_id)

    def register_args(self) -> dict[str, str]:
        return {"message_id": self.message_id}

    def describe(self) -> str:
        return f"approval of message {self.message_id}"

    def poll_steps(self, wait: float) -> _Steps:
        """One look at the approval (a long-poll of ``wait`` s when > 0): the outcome, or None."""
        outcome = _approval_outcome(self.message_id, (yield _call("list_pending", message_id=self.message_id,
                                                                  wait=wait or None)))
        if outcome is not None and outcome["status"] == "not_required":
            _confirm_never_held(self.message_id, (yield _call("read_email", self.message_id)))
        return outcome

    def conclude(self, outcome: Mapping[str, Any]) -> ApprovalResult:
        status = outcome.get("status")
        if status in ("approved", "not_required"):
            return status  # type: ignore[return-value]
        error = _refusal(outcome, f"Message {self.message_id}", message_id=self.message_id)
        if error is not None:
            raise error
        raise MultiMailWaitError(f"Unexpected approval outcome for message {self.message_id}: {dict(outcome)!r}",
                                 message_id=self.message_id, outcome=outcome)

    def timeout_error(self, timeout: float) -> WaitTimeout:
        return ApprovalTimeout(f"Message {self.message_id} was neither approved nor rejected within {timeout:g} s.",
                               timeout=timeout, message_id=self.message_id)


class _Decision:
    kind = "decision"

    def __init__(self, thread_id: str):
        if not isinstance(thread_id, str) or not thread_id:
            raise ValueError(f"thread_id must be a thread id (thr_...), got {thread_id!r}")
        self.thread_id = thread_id
        self._seen: str | None = None  # the last message of the thread already looked at
        self._held: str | None = None  # the question's id while it waits for approval itself

    def fresh(self) -> "_Decision":
        return _Decision(self.thread_id)

    def register_args(self) -> dict[str, str]:
        return {"thread_id": self.thread_id}

    def describe(self) -> str:
        return f"decision in thread {self.thread_id}"

    def _thread_args(self, wait: float) -> dict[str, Any]:
        # The first look answers at once; later ones wait for a message after the last one seen
        # (a reply that chose nothing, e.g. an out-of-office, just starts another wait).
        if self._seen is None or not wait:
            return {}
        return {"wait": wait, "after_message_id": self._seen}

    def _read(self, thread: Mapping[str, Any]) -> tuple[dict[str, Any] | None, Mapping[str, Any] | None]:
        """(the outcome, or None) and the question when it was refused (rejected / cancelled)."""
        outcome = _decision_outcome(thread)
        messages = thread.get("messages") or []
        if messages:
            self._seen = messages[-1].get("message_id")
        question = _question_of(thread)
        self._held = question.get("message_id") if question.get("status") == "pending" else None
        if outcome is None and question.get("status") in ("rejected", "cancelled"):
            return None, question
        return outcome, None

    def _refused(self, question: Mapping[str, Any], pending: Mapping[str, Any]) -> MultiMailWaitError:
        item = _approval_outcome(str(question.get("message_id")), pending) or {"status": question.get("status")}
        if item.get("status") not in ("rejected", "cancelled"):
            item = {**item, "status": question.get("status")}
        what = f"The question {question.get('message_id')} of thread {self.thread_id} (nobody will answer it)"
        return _refusal(item, what, message_id=question.get("message_id"), thread_id=self.thread_id) or MultiMailWaitError(
            f"{what} is {question.get('status')}.", thread_id=self.thread_id)

    def poll_steps(self, wait: float) -> _Steps:
        """One look at the thread (a long-poll of ``wait`` s when > 0): the decision, or None."""
        if self._held is not None and wait:
            # The question itself is held for approval: nobody can answer before it goes out, and
            # its rejection adds no message to the thread, so wait on its approval instead.
            yield _call("list_pending", message_id=self._held, wait=wait)
            wait = 0
        outcome, refused = self._read((yield _call("get_thread", self.thread_id, **self._thread_args(wait))))
        if refused is not None:
            raise self._refused(refused, (yield _call("list_pending", message_id=refused["message_id"])))
        return outcome

    def conclude(self, outcome: Mapping[str, Any]) -> str:
        decision = outcome.get("decision")
        if isinstance(decision, str) and decision:
            return decision
        # the server settles a decision wait with the refusal when its question was rejected or
        # cancelled before it went out: nobody will answer
        question_id = outcome.get("question_message_id")
        error = _refusal(outcome, f"The question {question_id} of thread {self.thread_id} (nobody will answer it)",
                         message_id=question_id, thread_id=self.thread_id)
        if error is not None:
            raise error
        raise MultiMailWaitError(f"Unexpected decision outcome for thread {self.thread_id}: {dict(outcome)!r}",
                                 thread_id=self.thread_id, outcome=outcome)

    def timeout_error(self, timeout: float) -> WaitTimeout:
        return DecisionTimeout(f"Nobody answered the question of thread {self.thread_id} within {timeout:g} s.",
                               timeout=timeout, thread_id=self.thread_id)


_Target = Union[_Approval, _Decision]


def _input_type(target: _Target) -> type[MultiMailOutcome]:
    return MultiMailOutcome.with_initial_data(description=(
        f"Waiting for the MultiMail {target.describe()}. The MultiMail server resumes this run when it "
        "happens; a run resumed by hand carries on only once the MultiMail server confirms the outcome."))


def _nudge(target: _Target, status: str) -> dict[str, Any]:
    return {"kind": target.kind, "status": status, "source": NUDGE_SOURCE}


def _log_unconfirmed(target: _Target, received: Any) -> None:
    data = received.model_dump() if isinstance(received, pydantic.BaseModel) else received
    if isinstance(data, Mapping) and data.get("source") == NUDGE_SOURCE:
        _logger().debug("Resumed by the watcher (%s); checking with the MultiMail server.", data.get("status"))
    else:
        _logger().warning("This flow run was resumed with %r, but the MultiMail server has no outcome for the %s yet "
                          "(resumed by hand?); ignoring it and waiting for the real outcome.", data, target.describe())


# -- steps and I/O ----------------------------------------------------------------------------
# Every decision of a wait lives once, in generators of *steps*: each ``yield`` asks for one piece
# of I/O (``_call("list_pending", ...)``, ``_step("sleep", 2.0)``, ``_step("pause", ...)``) and
# gets its result back, or its exception thrown in. :func:`_run` and :func:`_arun` carry the steps
# out with blocking or async I/O objects that only do what they are told.

_Step = tuple[str, tuple[Any, ...], dict[str, Any]]  # (what to do, args, kwargs)
_Steps = Generator[_Step, Any, Any]


def _step(name: str, *args: Any, **kwargs: Any) -> _Step:
    return name, args, kwargs


def _call(method: str, *args: Any, **kwargs: Any) -> _Step:
    """A call on the client: MultiMail's, or Prefect's in the watcher's second half."""
    return _step("call", method, *args, **kwargs)


def _run(steps: _Steps, io: Any) -> Any:
    """Carry out ``steps`` with blocking I/O; their return value."""
    send, value = steps.send, None
    while True:
        try:
            name, args, kwargs = send(value)
        except StopIteration as done:
            return done.value
        try:
            send, value = steps.send, getattr(io, name)(*args, **kwargs)
        except Exception as exc:
            send, value = steps.throw, exc


async def _arun(steps: _Steps, io: Any) -> Any:
    """Carry out ``steps`` with async I/O; their return value."""
    send, value = steps.send, None
    while True:
        try:
            name, args, kwargs = send(value)
        except StopIteration as done:
            return done.value
        try:
            send, value = steps.send, await getattr(io, name)(*args, **kwargs)
        except Exception as exc:
            send, value = steps.throw, exc


# -- the watcher's steps ----------------------------------------------------------------------


def _watch_steps(target: _Target, deadline: float) -> _Steps:
    """The watcher's first half: long-poll MultiMail until the outcome, an error or the deadline.

    Returns the run input to resume the run with (None when the pause ended first) and how long
    to leave the MultiMail server to resume it before the watcher does.
    """
    while not (yield _step("stopped")):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _nudge(target, "timeout"), 0.0
        try:
            outcome = yield from target.poll_steps(min(remaining, WATCH_POLL_SECONDS))
        except _TRANSIENT:
            yield _step("sleep", min(2.0, max(remaining, 0.0)))
            continue
        except Exception:  # rejected question, message gone, ...: the wait will find out and raise
            return _nudge(target, "error"), 0.0
        if outcome is not None:
            return {**outcome, "source": NUDGE_SOURCE}, RESUME_GRACE_SECONDS
    return None, 0.0


def _nudge_steps(flow_run_id: Any, pause_key: str, nudge: Mapping[str, Any], deadline: float) -> _Steps:
    """The watcher's second half (on Prefect's client): resume the run paused with ``pause_key``
    with ``nudge``, until that is accepted, the run is over, or its pause would have expired."""
    while not (yield _step("stopped")) and time.monotonic() < deadline + PAUSE_TIMEOUT_MARGIN:
        try:
            state = (yield _call("read_flow_run", flow_run_id)).state
            if state is None or state.is_final() or state.is_cancelling():
                return
            if state.is_paused() and state.state_details.pause_key == pause_key:
                result = yield _call("resume_flow_run", flow_run_id, run_input=nudge)
                if result.status == SetStateStatus.ACCEPT:
                    return
        except Exception:  # Prefect briefly unreachable: a dead watcher would leave the run paused
            _module_logger.debug("The MultiMail wait watcher retries", exc_info=True)
        yield _step("sleep", 0.5)  # not paused yet, or the run input schema is not saved yet


# -- the wait's steps -------------------------------------------------------------------------


def _pause_steps(target: _Target, flow_ctx: FlowRunContext, wait: Mapping[str, Any], deadline: float,
                 timeout: float, poll_interval: float) -> _Steps:
    """Pause until resumed; the outcome as the server confirms it, or None when it has none yet."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    flow_run_id = flow_ctx.flow_run.id
    key = _pause_key(flow_ctx, wait["wait_id"], wait.get("pause_key"))
    logger = _logger()
    logger.info("Pausing until the %s (MultiMail resumes this run; timeout %g s).", target.describe(), timeout)
    # the watcher stops at "unwatch", or in the shell's `finally` when an error ends the wait
    yield _step("watch", target.fresh(), flow_run_id, key, deadline, wait["wait_id"])
    received: Any = None
    try:
        received = yield _step("pause", wait_for_input=_input_type(target),
                               timeout=math.ceil(remaining + PAUSE_TIMEOUT_MARGIN), poll_interval=poll_interval, key=key)
    except FlowPauseTimeout as exc:
        raise target.timeout_error(timeout) from exc
    except pydantic.ValidationError:
        state = yield _step("flow_run_state", flow_run_id)
        if not (state and state.is_running()):
            raise
        # Resumed without a valid input: whatever happened, the server says what is true.
        _module_logger.debug("Resumed without a valid run input", exc_info=True)
    except RuntimeError as exc:  # the run could not be paused
        logger.warning("Could not pause this flow run (%s); polling the MultiMail server instead.", exc)
        yield _step("unwatch")
        return None
    yield _step("unwatch")
    outcome = (yield _call("register_wait", str(flow_run_id), **target.register_args())).get("outcome")
    if outcome:
        return outcome
    _log_unconfirmed(target, received)
    return None


def _poll_steps(target: _Target, deadline: float, timeout: float, poll_interval: float) -> _Steps:
    failures = 0
    while True:
        started = time.monotonic()
        try:
            outcome = yield from target.poll_steps(max(0.0, min(deadline - started, LONG_POLL_SECONDS)))
        except _TRANSIENT as exc:
            if time.monotonic() >= deadline:
                raise
            failures += 1
            delay = min(2.0 ** failures, 30.0, max(0.0, deadline - time.monotonic()))
            _logger().warning("MultiMail did not answer (%s); trying again in %.0f s.", exc, delay)
            yield _step("sleep", delay)
            continue
        failures = 0
        if outcome is not None:
            return target.conclude(outcome)
        now = time.monotonic()
        if now >= deadline:
            raise target.timeout_error(timeout)
        spare = poll_interval - (now - started)  # a server that does not hold the request is not hammered
        if spare > 0:
            yield _step("sleep", min(spare, deadline - now))


def _wait_steps(target: _Target, deadline: float, timeout: float, poll_interval: float) -> _Steps:
    """The whole wait: register it, pause (in a flow function, when the server can resume runs),
    else long-poll; what the wait returns or raises."""
    flow_ctx = _pausable_context()
    if flow_ctx is not None:
        wait = yield _call("register_wait", str(flow_ctx.flow_run.id), **target.register_args())
        if wait.get("outcome"):
            return target.conclude(wait["outcome"])
        if wait.get("resume") == "prefect":
            outcome = yield from _pause_steps(target, flow_ctx, wait, deadline, timeout, poll_interval)
            if outcome is not None:
                return target.conclude(outcome)
        else:
            _logger().info("Waiting for the %s by polling MultiMail (its server does not resume Prefect runs).",
                           target.describe())
    return (yield from _poll_steps(target, deadline, timeout, poll_interval))


# -- sync -------------------------------------------------------------------------------------


class _Blocking:
    """Blocking I/O for the steps: calls on ``api`` (MultiMail's client, or Prefect's), sleeps
    (cut short once ``stop``, the watcher's, is set); for a wait, the pause and its watcher."""

    def __init__(self, api: Any, credentials: MultiMailCredentials | None = None, stop: threading.Event | None = None):
        self.api, self.credentials, self.stop = api, credentials, stop
        self.watcher_stop: threading.Event | None = None

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.api, method)(*args, **kwargs)

    def sleep(self, seconds: float) -> bool | None:
        return self.stop.wait(seconds) if self.stop is not None else time.sleep(seconds)

    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def watch(self, target: _Target, flow_run_id: Any, pause_key: str, deadline: float, wait_id: str) -> None:
        self.watcher_stop = stop = threading.Event()
        threading.Thread(target=contextvars.copy_context().run, daemon=True, name=f"multimail-watch-{wait_id}",
                         args=(_watch, self.credentials, target, flow_run_id, pause_key, deadline, stop)).start()

    def unwatch(self) -> None:
        if self.watcher_stop is not None:
            self.watcher_stop.set()

    def pause(self, **kwargs: Any) -> Any:
        return pause_flow_run(**kwargs, _sync=True)

    def flow_run_state(self, flow_run_id: Any) -> Any:
        with get_client(sync_client=True) as prefect:
            return prefect.read_flow_run(flow_run_id).state


def _watch(credentials: MultiMailCredentials, target: _Target, flow_run_id: Any, pause_key: str, deadline: float,
           stop: threading.Event) -> None:
    """Beside a paused run: resume it if the outcome arrives and the server's resume does not, and
    at the deadline. Never raises (it is a safety net; the wait itself decides everything)."""
    try:
        with credentials.get_client() as client:
            nudge, grace = _run(_watch_steps(target, deadline), _Blocking(client, stop))
        if nudge is None or (grace and stop.wait(grace)):
            return
        with get_client(sync_client=True) as prefect:
            _run(_nudge_steps(flow_run_id, pause_key, nudge, deadline), _Blocking(prefect, stop))
    except Exception:
        _module_logger.debug("The MultiMail wait watcher stopped", exc_info=True)


def _wait(credentials: MultiMailCredentials, target: _Target, timeout: float, poll_interval: float) -> Any:
    _check_times(timeout, poll_interval)
    deadline = time.monotonic() + timeout
    with credentials.get_client() as client:
        io = _Blocking(client, credentials)
        try:
            return _run(_wait_steps(target, deadline, timeout, poll_interval), io)
        finally:
            io.unwatch()


def wait_for_approval(
    credentials: MultiMailCredentials,
    message_id: str,
    *,
    timeout: float = 3600,
    poll_interval: float = 0.5,
) -> ApprovalResult:
    """Wait until a held message is approved (it then goes out), or fail if it is rejected.

    Call it from the flow function: there the run pauses (no task slot held, *Paused* in the UI)
    and the MultiMail server resumes it the moment an approver decides; elsewhere (outside a
    flow, in a task, or with a server that cannot reach Prefect) it long-polls. See the module
    docstring for the whole story. In an ``async def`` flow use :func:`await_approval`.

    Args:
        credentials: The MultiMail credentials block (an agent key is enough).
        message_id: The message, e.g. what :func:`~prefect_multimail.send_email` returned.
        timeout: Seconds to wait at most.
        poll_interval: Seconds between the paused run's checks for its resume (Prefect's pause
            polling), and the least time between two polls of a server that answers at once.

    Returns:
        ``"approved"``, or ``"not_required"`` when the message was never held (its mailbox's
        oversight let it go straight out).

    Raises:
        MessageRejected: An approver rejected it (``reason``, ``decided_by``).
        MessageCancelled: It was withdrawn before anyone approved it.
        ApprovalTimeout: Nobody decided within ``timeout`` (a :class:`WaitTimeout`).
        multimail.client.NotFound: Unknown message, or outside the key's scope.
        TypeError: Called in an async flow or task (use :func:`await_approval`).

    Example:
        ```python
        @flow
        def quarterly_report():
            credentials = MultiMailCredentials.load("BLOCK_NAME")
            message_id = send_email(credentials, sender="agent@acme.test", to="cfo@acme.test",
                                    subject="Q3 numbers", body=draft_report())
            wait_for_approval(credentials, message_id, timeout=8 * 3600)
            archive_report()  # runs only once a human approved the mail
        ```
    """
    _refuse_async("wait_for_approval", "await_approval")
    return _wait(credentials, _Approval(message_id), timeout, poll_interval)


def wait_for_decision(
    credentials: MultiMailCredentials,
    thread_id: str,
    *,
    timeout: float = 3600,
    poll_interval: float = 0.5,
) -> str:
    """Wait for the answer to a decide_email question; return the chosen option.

    The human answers by replying (the first meaningful word or line, matched to an option) or
    by a one-click link. Works like :func:`wait_for_approval`: pauses in a flow function, long-polls
    elsewhere. In an ``async def`` flow use :func:`await_decision`.

    Args:
        credentials: The MultiMail credentials block.
        thread_id: The question's thread, as :func:`~prefect_multimail.decide_email` returned it.
        timeout: Seconds to wait at most.
        poll_interval: As for :func:`wait_for_approval`.

    Returns:
        The chosen option, spelled as in ``options``.

    Raises:
        DecisionTimeout: Nobody answered within ``timeout`` (a :class:`WaitTimeout`).
        MessageRejected: The question itself was held for approval and rejected, so nobody will
            ever answer it (noticed when polling; a paused run learns it through the watcher).
        MessageCancelled: The question was withdrawn.
        multimail.client.Conflict: ``not_a_decision``: the thread has no decide_email question
            (``ValueError`` with the same meaning when polling).
        TypeError: Called in an async flow or task (use :func:`await_decision`).

    Example:
        ```python
        thread_id = decide_email(credentials, sender="agent@acme.test", to="boss@acme.test",
                                 question="Ship the release on Monday?", options=["Ship", "Hold"])
        if wait_for_decision(credentials, thread_id, timeout=24 * 3600) == "Ship":
            ship()
        ```
    """
    _refuse_async("wait_for_decision", "await_decision")
    return _wait(credentials, _Decision(thread_id), timeout, poll_interval)


# -- async ------------------------------------------------------------------------------------


class _Async:
    """Async I/O for the steps, as :class:`_Blocking`; the watcher task is cancelled when the pause
    is over (it is never told to stop)."""

    def __init__(self, api: Any, credentials: MultiMailCredentials | None = None):
        self.api, self.credentials = api, credentials
        self.watcher: asyncio.Future[None] | None = None

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await getattr(self.api, method)(*args, **kwargs)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def stopped(self) -> bool:
        return False

    async def watch(self, target: _Target, flow_run_id: Any, pause_key: str, deadline: float, wait_id: str) -> None:
        self.watcher = asyncio.ensure_future(_awatch(self.credentials, target, flow_run_id, pause_key, deadline))

    async def unwatch(self) -> None:
        watcher, self.watcher = self.watcher, None
        if watcher is not None:
            watcher.cancel()
            try:
                await watcher
            except asyncio.CancelledError:
                pass

    async def pause(self, **kwargs: Any) -> Any:
        return await apause_flow_run(**kwargs)

    async def flow_run_state(self, flow_run_id: Any) -> Any:
        async with get_client() as prefect:
            return (await prefect.read_flow_run(flow_run_id)).state


async def _awatch(credentials: MultiMailCredentials, target: _Target, flow_run_id: Any, pause_key: str,
                  deadline: float) -> None:
    """The async twin of :func:`_watch`; cancelled when the pause ends."""
    try:
        async with credentials.get_async_client() as client:
            nudge, grace = await _arun(_watch_steps(target, deadline), _Async(client))
        await asyncio.sleep(grace)
        async with get_client() as prefect:
            await _arun(_nudge_steps(flow_run_id, pause_key, nudge, deadline), _Async(prefect))
    except Exception:
        _module_logger.debug("The MultiMail wait watcher stopped", exc_info=True)


async def _await(credentials: MultiMailCredentials, target: _Target, timeout: float, poll_interval: float) -> Any:
    _check_times(timeout, poll_interval)
    deadline = time.monotonic() + timeout
    async with credentials.get_async_client() as client:
        io = _Async(client, credentials)
        try:
            return await _arun(_wait_steps(target, deadline, timeout, poll_interval), io)
        finally:
            await io.unwatch()


async def await_approval(
    credentials: MultiMailCredentials,
    message_id: str,
    *,
    timeout: float = 3600,
    poll_interval: float = 0.5,
) -> ApprovalResult:
    """The async twin of :func:`wait_for_approval` (for ``async def`` flows, or any event loop).

    Args:
        credentials: The MultiMail credentials block.
        message_id: The held message.
        timeout: Seconds to wait at most.
        poll_interval: As for :func:`wait_for_approval`.

    Returns:
        ``"approved"`` or ``"not_required"``.

    Raises:
        MessageRejected: An approver rejected it.
        MessageCancelled: It was withdrawn.
        ApprovalTimeout: Nobody decided within ``timeout``.

    Example:
        ```python
        @flow
        async def notify():
            credentials = await MultiMailCredentials.load("BLOCK_NAME")
            message_id = send_email(credentials, sender="agent@acme.test", to="ana@partner.test",
                                    subject="Hi", body="Hello")
            await await_approval(credentials, message_id)
        ```
    """
    return await _await(credentials, _Approval(message_id), timeout, poll_interval)


async def await_decision(
    credentials: MultiMailCredentials,
    thread_id: str,
    *,
    timeout: float = 3600,
    poll_interval: float = 0.5,
) -> str:
    """The async twin of :func:`wait_for_decision`.

    Args:
        credentials: The MultiMail credentials block.
        thread_id: The question's thread.
        timeout: Seconds to wait at most.
        poll_interval: As for :func:`wait_for_approval`.

    Returns:
        The chosen option.

    Raises:
        DecisionTimeout: Nobody answered within ``timeout``.
        MessageRejected: The question was rejected before it went out.

    Example:
        ```python
        choice = await await_decision(credentials, thread_id, timeout=3600)
        ```
    """
    return await _await(credentials, _Decision(thread_id), timeout, poll_interval)
