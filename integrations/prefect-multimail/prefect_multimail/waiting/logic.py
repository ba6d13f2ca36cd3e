"""The wait, written once: generators that yield :mod:`.steps` and receive their results.

:func:`wait_steps` is the whole wait (register, pause or long-poll, conclude);
:func:`watch_steps` and :func:`nudge_steps` are the two halves of the watcher beside a paused
run. None of them does I/O: the runners in :mod:`.blocking` and :mod:`.async_` carry the steps
out, so the sync and async waits cannot drift apart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import pydantic
from prefect.client.schemas.responses import SetStateStatus
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout

from multimail_server.client.errors import ConnectionError as MultiMailConnectionError
from multimail_server.client.errors import RateLimited, ServerError

from .outcomes import MultiMailOutcome
from .prefect_run import logger, module_logger, pausable_context, pause_key
from .steps import (
    FlowRunState,
    Pause,
    ReadFlowRun,
    Register,
    ResumeFlowRun,
    Sleep,
    Steps,
    Stopped,
    Suspend,
    Unwatch,
    Watch,
)
from .targets import Pausable, Target, may_pause

LONG_POLL_SECONDS = 55.0  # one long-poll request; the server holds at most 60 s
WATCH_POLL_SECONDS = 55.0  # the watcher's long-polls: the server answers at once on a change, so long is cheap
RESUME_GRACE_SECONDS = 3.0  # how long the watcher leaves the MultiMail server to resume the run
PAUSE_TIMEOUT_MARGIN = 30.0  # the Prefect pause outlives the wait; the watcher ends it at the deadline
NUDGE_SOURCE = "prefect-multimail"  # marks the run inputs the watcher resumes with

SUSPEND_AFTER_SECONDS = 600.0  # suspend=None: a deployment run's wait allowed longer than this suspends

MAX_BACKOFF_SECONDS = 30.0  # the longest pause between two tries of a MultiMail call that failed

TRANSIENT = (MultiMailConnectionError, ServerError, RateLimited)


def check_times(timeout: float, poll_interval: float) -> None:
    """Refuse a timeout or poll interval that would make the wait meaningless."""
    if timeout is None or timeout < 0:
        raise ValueError(f"timeout must be a number of seconds >= 0, got {timeout!r}")
    if poll_interval is None or poll_interval <= 0:
        raise ValueError(f"poll_interval must be a number of seconds > 0, got {poll_interval!r}")


def register(flow_run_id: Any, target: Pausable) -> Register:
    return Register(str(flow_run_id), **target.register_args())


def backoff_steps(exc: Exception, failures: int, deadline: float) -> Steps:
    """Wait out the ``failures``-th transient failure in a row (``exc``): 2, 4, 8 ... 30 s, never
    past the deadline; once the deadline has come, ``exc`` is the wait's error.

    Why: MultiMail restarts (an upgrade, a crash, a CLI approval while it is stopped), and a flow
    run that waited hours for a human must not die of a refused connection in those seconds.
    """
    if time.monotonic() >= deadline:
        raise exc
    delay = min(2.0 ** failures, MAX_BACKOFF_SECONDS, max(0.0, deadline - time.monotonic()))
    logger().warning("MultiMail did not answer (%s); trying again in %.0f s.", exc, delay)
    yield Sleep(delay)


def call_steps(request: Register, deadline: float) -> Steps:
    """One call of the wait on the MultiMail server, its answer; connection errors, 429 and 5xx
    are waited out (:func:`backoff_steps`) until the deadline, as the polling does."""
    failures = 0
    while True:
        try:
            return (yield request)
        except TRANSIENT as exc:
            failures += 1
            yield from backoff_steps(exc, failures, deadline)


def input_type(target: Pausable) -> type[MultiMailOutcome]:
    """The run input the pause accepts, described for whoever looks at the paused run in the UI."""
    return MultiMailOutcome.with_initial_data(description=(
        f"Waiting for the MultiMail {target.describe()}. The MultiMail server resumes this run when it "
        "happens; a run resumed by hand carries on only once the MultiMail server confirms the outcome."))


def nudge(target: Target, status: str) -> dict[str, Any]:
    """The run input the watcher resumes with when there is no outcome to hand over."""
    return {"kind": target.kind, "status": status, "source": NUDGE_SOURCE}


def log_unconfirmed(target: Target, received: Any) -> None:
    data = received.model_dump() if isinstance(received, pydantic.BaseModel) else received
    if isinstance(data, Mapping) and data.get("source") == NUDGE_SOURCE:
        logger().debug("Resumed by the watcher (%s); checking with the MultiMail server.", data.get("status"))
    else:
        logger().warning("This flow run was resumed with %r, but the MultiMail server has no outcome for the %s yet "
                         "(resumed by hand?); ignoring it and waiting for the real outcome.", data, target.describe())


# -- the watcher ------------------------------------------------------------------------------


def watch_steps(target: Target, deadline: float) -> Steps:
    """The watcher's first half: long-poll MultiMail until the outcome, an error or the deadline.

    Returns the run input to resume the run with (None when the pause ended first) and how long
    to leave the MultiMail server to resume it before the watcher does.
    """
    while not (yield Stopped()):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return nudge(target, "timeout"), 0.0
        try:
            outcome = yield from target.poll_steps(min(remaining, WATCH_POLL_SECONDS))
        except TRANSIENT:
            yield Sleep(min(2.0, max(remaining, 0.0)))
            continue
        except Exception:  # rejected question, message gone, ...: the wait will find out and raise
            return nudge(target, "error"), 0.0
        if outcome is not None:
            return {**outcome, "source": NUDGE_SOURCE}, RESUME_GRACE_SECONDS
    return None, 0.0


def nudge_steps(flow_run_id: Any, key: str, run_input: Mapping[str, Any], deadline: float) -> Steps:
    """The watcher's second half (on Prefect's client): resume the run paused with ``key``
    with ``run_input``, until that is accepted, the run is over, or its pause would have expired."""
    while not (yield Stopped()) and time.monotonic() < deadline + PAUSE_TIMEOUT_MARGIN:
        try:
            state = (yield ReadFlowRun(flow_run_id)).state
            if state is None or state.is_final() or state.is_cancelling():
                return
            if state.is_paused() and state.state_details.pause_key == key:
                result = yield ResumeFlowRun(flow_run_id, run_input)
                if result.status == SetStateStatus.ACCEPT:
                    return
        except Exception:  # Prefect briefly unreachable: a dead watcher would leave the run paused
            module_logger.debug("The MultiMail wait watcher retries", exc_info=True)
        yield Sleep(0.5)  # not paused yet, or the run input schema is not saved yet


# -- the wait ---------------------------------------------------------------------------------


def pause_steps(target: Pausable, flow_ctx: FlowRunContext, wait: Mapping[str, Any], deadline: float,
                timeout: float, poll_interval: float) -> Steps:
    """Pause until resumed; the outcome as the server confirms it, or None when it has none yet."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    assert flow_ctx.flow_run is not None  # pausable_context() gives only contexts with a run
    flow_run_id = flow_ctx.flow_run.id
    key = pause_key(flow_ctx, wait["wait_id"], wait.get("pause_key"))
    log = logger()
    log.info("Pausing until the %s (MultiMail resumes this run; timeout %g s).", target.describe(), timeout)
    # the watcher stops at Unwatch, or in the runner's `finally` when an error ends the wait
    yield Watch(target.fresh(), flow_run_id, key, deadline, wait["wait_id"])
    received: Any = None
    try:
        received = yield Pause(wait_for_input=input_type(target), timeout=math.ceil(remaining + PAUSE_TIMEOUT_MARGIN),
                               poll_interval=poll_interval, key=key)
    except FlowPauseTimeout as exc:
        raise target.timeout_error(timeout) from exc
    except pydantic.ValidationError:
        state = yield FlowRunState(flow_run_id)
        if not (state and state.is_running()):
            raise
        # Resumed without a valid input: whatever happened, the server says what is true.
        module_logger.debug("Resumed without a valid run input", exc_info=True)
    except RuntimeError as exc:  # the run could not be paused
        log.warning("Could not pause this flow run (%s); polling the MultiMail server instead.", exc)
        yield Unwatch()
        return None
    yield Unwatch()
    # the confirmation, which may meet a MultiMail server that is down (it resumed the run and
    # stopped, or the run was resumed by the watcher or by hand while it was down)
    outcome = (yield from call_steps(register(flow_run_id, target), deadline)).get("outcome")
    if outcome:
        return outcome
    log_unconfirmed(target, received)
    return None


def why_not_suspendable(flow_ctx: FlowRunContext) -> str | None:
    """Why this flow run cannot be suspended, or None when it can.

    A suspended run is rerun from the top by a worker: it needs a deployment (something to rerun;
    Prefect refuses to suspend a run without one), must be a top-level run (Prefect cannot
    suspend a subflow), and must persist its results, so that the tasks that already ran are
    read back from their results instead of running again.
    """
    flow_run = flow_ctx.flow_run
    if flow_run is None or flow_run.deployment_id is None:
        return "it is not a run of a deployment"
    if flow_run.parent_task_run_id is not None:
        return "it is a subflow run"
    if not flow_ctx.persist_result:
        return "its results are not persisted (use @flow(persist_result=True))"
    return None


def should_suspend(suspend: bool | None, flow_ctx: FlowRunContext, timeout: float) -> bool:
    """Suspend (True) or pause (False): ``suspend`` as asked, by default past the threshold;
    a run that cannot be suspended pauses, and says why when suspending was asked for."""
    if suspend is False:
        return False
    reason = why_not_suspendable(flow_ctx)
    if suspend is None:
        if reason is not None and timeout > SUSPEND_AFTER_SECONDS:
            logger().debug("Pausing, not suspending, this flow run for a wait of %g s: %s.", timeout, reason)
        return reason is None and timeout > SUSPEND_AFTER_SECONDS
    if reason is not None:
        logger().warning("This flow run cannot be suspended (%s); pausing it instead, in its process.", reason)
        return False
    return True


class CannotSuspend(Exception):
    """Prefect refused to suspend the run (the wait pauses it instead)."""


def suspend_steps(target: Pausable, flow_ctx: FlowRunContext, wait: Mapping[str, Any], deadline: float,
                  timeout: float) -> Steps:
    """Suspend until resumed; the outcome as the server confirms it, or None when it has none.

    The first time, the flow run is suspended: its process exits (Prefect's ``Pause`` signal
    passes through) and nothing of this wait is left but the registration on the MultiMail
    server. When the server resumes the run, Prefect reschedules it, a worker runs the flow
    again from the top, and the wait registers again: the outcome is in that answer, so this is
    not reached again. Reached in a rerun when the run was resumed without an outcome (by hand):
    the suspension under this key already fired, so it returns at once, and the server, asked
    again, says there is nothing yet (None: the caller suspends again under a new key).
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    assert flow_ctx.flow_run is not None  # pausable_context() gives only contexts with a run
    flow_run_id = flow_ctx.flow_run.id
    key = pause_key(flow_ctx, wait["wait_id"], wait.get("pause_key"))
    logger().info("Suspending this flow run until the %s: its process exits now, and the MultiMail server has the "
                  "run rescheduled on a worker when it happens (timeout %g s).", target.describe(), timeout)
    received: Any = None
    try:
        received = yield Suspend(wait_for_input=input_type(target), timeout=math.ceil(remaining), key=key)
    except RuntimeError as exc:  # Prefect would not suspend it
        raise CannotSuspend(str(exc)) from exc
    except Exception:  # fired before, but its run input cannot be read: the server says what is true
        module_logger.debug("The run input of an earlier suspension could not be read", exc_info=True)
    outcome = (yield from call_steps(register(flow_run_id, target), deadline)).get("outcome")
    if outcome:
        return outcome
    log_unconfirmed(target, received)
    return None


def poll_steps(target: Target, deadline: float, timeout: float, poll_interval: float) -> Steps:
    """Long-poll the server until the outcome (concluded) or the deadline (the timeout error),
    waiting out transient failures with a growing delay."""
    failures = 0
    while True:
        started = time.monotonic()
        try:
            outcome = yield from target.poll_steps(max(0.0, min(deadline - started, LONG_POLL_SECONDS)))
        except TRANSIENT as exc:
            failures += 1
            yield from backoff_steps(exc, failures, deadline)
            continue
        failures = 0
        if outcome is not None:
            return target.conclude(outcome)
        now = time.monotonic()
        if now >= deadline:
            raise target.timeout_error(timeout)
        spare = poll_interval - (now - started)  # a server that does not hold the request is not hammered
        if spare > 0:
            yield Sleep(min(spare, deadline - now))


def wait_steps(target: Target, deadline: float, timeout: float, poll_interval: float,
               suspend: bool | None = None) -> Steps:
    """The whole wait: register it, then (in a flow function, when the server can resume runs)
    suspend or pause the run, else long-poll; what the wait returns or raises."""
    if may_pause(target) and (flow_ctx := pausable_context()) is not None and flow_ctx.flow_run is not None:
        wait = yield from call_steps(register(flow_ctx.flow_run.id, target), deadline)
        if wait.get("outcome"):
            return target.conclude(wait["outcome"])
        if wait.get("resume") == "prefect":
            suspending = should_suspend(suspend, flow_ctx, timeout)
            while suspending and time.monotonic() < deadline:
                try:
                    outcome = yield from suspend_steps(target, flow_ctx, wait, deadline, timeout)
                except CannotSuspend as exc:
                    logger().warning("Could not suspend this flow run (%s); pausing it instead.", exc)
                    suspending = False
                    break
                if outcome is not None:
                    return target.conclude(outcome)
            if not suspending:
                outcome = yield from pause_steps(target, flow_ctx, wait, deadline, timeout, poll_interval)
                if outcome is not None:
                    return target.conclude(outcome)
        else:
            logger().info("Waiting for the %s by polling MultiMail (its server does not resume Prefect runs).",
                          target.describe())
    return (yield from poll_steps(target, deadline, timeout, poll_interval))
