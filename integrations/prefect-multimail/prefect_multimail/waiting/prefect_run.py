"""What a wait learns from the Prefect run it is called in: whether it may pause that run,
whether it is in an async run's event loop, the run's logger, and a pause key of its own."""

from __future__ import annotations

import asyncio
import logging
import re

from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

from .._context import attempt_state

module_logger = logging.getLogger("prefect_multimail")


def logger() -> logging.Logger | logging.LoggerAdapter:
    """The run's logger (its lines show in the Prefect UI), or the package's outside a run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return module_logger


def in_async_run() -> bool:
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


def refuse_async(name: str, twin: str) -> None:
    """A blocking wait refuses an async run rather than hand back a coroutine: an un-awaited gate
    would let the flow go on without the human's approval."""
    if in_async_run():
        raise TypeError(f"{name}() blocks; in an async flow or task use `await {twin}(...)` instead.")


def pausable_context() -> FlowRunContext | None:
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


def pause_key(flow_ctx: FlowRunContext, wait_id: str, issued: str | None = None) -> str:
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
