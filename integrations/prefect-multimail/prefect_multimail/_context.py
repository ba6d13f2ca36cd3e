"""What a send learns from the Prefect run it happens in: the ids for the audit trail, and an
idempotency key that is the same when the same send is attempted again.

Why a derived key: a Prefect task that sends mail and then fails (a timeout reading the answer,
a crash after the send, a later step of the same task) is retried, and a flow run can be retried
from the top. Each retry repeats the send; with the same ``Idempotency-Key`` the MultiMail
server answers the repeat with the message the first attempt created instead of sending a
second one. So the key must stay the same between attempts of the same work, and differ between
different pieces of work:

- **Task retries.** The n-th send of a task run gets the same key in every attempt of that task
  run (the task run keeps its id across its retries; the key of its n-th send is remembered).
  A retry that sends something else at that position (a body with the current time in it) is
  refused with ``409 idempotency_key_reused`` rather than sent twice.
- **Flow retries.** A retried flow run makes *new* task runs (Prefect 3 gives each task call a
  random ``dynamic_key``, so nothing about a task run identifies "the same call" across flow-run
  attempts). What stays the same is the flow run id and what is sent: the key is
  ``sha256(flow_run_id, task_key, operation, digest of the request without metadata,
  occurrence)``, where *occurrence* counts identical requests in the flow-run attempt (sending
  the same mail twice on purpose sends it twice; identical requests submitted concurrently are
  interchangeable, so their order does not matter). A request whose content changes between
  flow-run attempts is a new request and is sent again: build message content from the flow's
  inputs, not from the clock, or pass your own ``idempotency_key``.
- **A new flow run** (tomorrow's scheduled run) has a new id, and sends again.
- **Outside any run** there is no key (the server's window for identical requests still applies).
- **A task run outside a flow run** (a task called on its own, or run by a task worker) uses its
  own id and the send's position: only its own retries repeat it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from prefect.context import FlowRunContext, TaskRunContext

KEY_PREFIX = "prefect-"

_lock = threading.Lock()
# id(run context object) -> (weak reference to it, its state). Prefect makes a new context
# object for every attempt of a task run or flow run, so the state of one attempt (how many
# sends it made, how often each request occurred, which pause keys it used) starts afresh with
# the next attempt.
_attempt_state: dict[int, tuple[weakref.ref, dict[str, Any]]] = {}


def attempt_state(ctx: Any) -> dict[str, Any]:
    """A dict that lives as long as this run-context object (one attempt of a task or flow run)."""
    key = id(ctx)
    with _lock:
        entry = _attempt_state.get(key)
        if entry is not None and entry[0]() is ctx:
            return entry[1]
        state: dict[str, Any] = {}

        def forget(_ref: weakref.ref, key: int = key) -> None:
            with _lock:
                current = _attempt_state.get(key)
                if current is not None and current[0] is _ref:
                    del _attempt_state[key]

        _attempt_state[key] = (weakref.ref(ctx, forget), state)
        return state


def _next_send_index(ctx: Any) -> int:
    state = attempt_state(ctx)
    with _lock:
        index = state.get("sends", 0)
        state["sends"] = index + 1
    return index


def _occurrence(flow_ctx: Any, what: tuple[str, ...]) -> int:
    counts: dict[tuple[str, ...], int] = attempt_state(flow_ctx).setdefault("occurrences", {})
    with _lock:
        n = counts.get(what, 0)
        counts[what] = n + 1
    return n


def content_digest(content: Mapping[str, Any]) -> str:
    """A stable hash of a request's content (key order does not matter; ``None`` means absent)."""
    present = {k: v for k, v in content.items() if v is not None}
    return hashlib.sha256(json.dumps(present, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")).hexdigest()


def _hash(parts: list[Any]) -> str:
    return KEY_PREFIX + hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode("utf-8")).hexdigest()


# (task run id, position of the send in the attempt) -> the key its first attempt used; task
# retries run in the same process, so this is where a retry finds its key again.
_task_keys: OrderedDict[tuple[str, int], str] = OrderedDict()
_TASK_KEYS_KEPT = 10_000


def derive_idempotency_key(operation: str, content: Mapping[str, Any]) -> str | None:
    """The idempotency key for a send of the current Prefect run, or ``None`` outside any run.

    Each call counts as one send (see the module docstring): call it once per send, just before
    sending.

    Args:
        operation: ``send``, ``reply`` or ``decide``.
        content: The request without ``metadata`` and ``idempotency_key`` (what makes it the same request).

    Returns:
        ``prefect-`` + 64 hex digits, or ``None``.
    """
    task_ctx = TaskRunContext.get()
    flow_ctx = FlowRunContext.get()
    flow_run = flow_ctx.flow_run if flow_ctx is not None else None
    if task_ctx is not None and task_ctx.task_run is not None:
        run = task_ctx.task_run
        memo = (str(run.id), _next_send_index(task_ctx))
        with _lock:
            known = _task_keys.get(memo)
        if known is not None:
            return known
        if flow_run is not None and run.flow_run_id == flow_run.id:
            digest = content_digest(content)
            parts: list[Any] = ["flow", str(flow_run.id), run.task_key, operation, digest,
                                _occurrence(flow_ctx, (run.task_key, operation, digest))]
        else:
            parts = ["task", str(run.id), memo[1]]
        key = _hash(parts)
        with _lock:
            _task_keys[memo] = key
            while len(_task_keys) > _TASK_KEYS_KEPT:
                _task_keys.popitem(last=False)
        return key
    if flow_run is not None:  # a send in the flow function itself (``send_email.fn(...)``)
        digest = content_digest(content)
        return _hash(["flow", str(flow_run.id), "", operation, digest, _occurrence(flow_ctx, ("", operation, digest))])
    return None


def run_metadata() -> dict[str, str]:
    """The ids and names of the current Prefect run that exist: ``flow_run_id``, ``flow_run_name``,
    ``flow_name``, ``task_run_id``, ``task_run_name``, ``deployment_id`` (empty outside any run)."""
    info: dict[str, str] = {}
    flow_ctx = FlowRunContext.get()
    task_ctx = TaskRunContext.get()
    flow_run = flow_ctx.flow_run if flow_ctx is not None else None
    task_run = task_ctx.task_run if task_ctx is not None else None
    if flow_run is not None and task_run is not None and task_run.flow_run_id not in (None, flow_run.id):
        flow_run = None  # a stale flow context (a task run submitted elsewhere): trust the task run
    if flow_run is not None:
        info["flow_run_id"] = str(flow_run.id)
        if flow_run.name:
            info["flow_run_name"] = flow_run.name
        if flow_ctx is not None and flow_ctx.flow is not None and flow_ctx.flow.name:
            info["flow_name"] = flow_ctx.flow.name
        if flow_run.deployment_id:
            info["deployment_id"] = str(flow_run.deployment_id)
    elif task_run is not None and task_run.flow_run_id:
        info["flow_run_id"] = str(task_run.flow_run_id)
    if task_run is not None:
        info["task_run_id"] = str(task_run.id)
        if task_run.name:
            info["task_run_name"] = task_run.name
    return info


def merge_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The caller's metadata with a ``"prefect"`` object of :func:`run_metadata` merged in.

    The server indexes ``metadata.prefect.flow_run_id`` (``list_pending(flow_run_id=...)``, the
    cancellation hook) and keeps the whole object in the audit trail, which thereby links each
    message back to the run that sent it. Keys the caller set under ``"prefect"`` win; a
    non-object ``"prefect"`` value of the caller's is left alone.
    """
    info = run_metadata()
    if not info:
        return dict(metadata) if metadata is not None else None
    merged = dict(metadata or {})
    existing = merged.get("prefect")
    if existing is None:
        merged["prefect"] = info
    elif isinstance(existing, Mapping):
        merged["prefect"] = {**info, **existing}
    return merged
