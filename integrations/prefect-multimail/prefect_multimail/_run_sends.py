"""The sends of a deployment run, remembered in the run itself (one flow run input per send).

Why: a run of a deployment can be run again from the top (resumed after a suspension, which may
last days; a retried run). Its sends are repeated with the same idempotency key, and the
MultiMail server answers a repeat with the first message, but keeps a key 24 h only. So each
send of a deployment run also keeps its message id with the run (Prefect keeps a run's inputs
as long as the run), and a repeat finds it there and sends nothing, however late it comes.
Only runs of a deployment pay the two extra calls to Prefect; a run without one is never run
again from the top. Whatever goes wrong with Prefect here only costs that safety net: the send
still carries its idempotency key.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from prefect.context import FlowRunContext, TaskRunContext
from prefect.input import create_flow_run_input, read_flow_run_input

from ._context import content_digest
from ._dual import call_sync

KEY_PREFIX = "multimail-sent-"

_module_logger = logging.getLogger("prefect_multimail")


def _deployment_run_id() -> UUID | None:
    """The id of the flow run this send belongs to, when it is a run of a deployment."""
    flow_ctx = FlowRunContext.get()
    flow_run = flow_ctx.flow_run if flow_ctx is not None else None
    if flow_run is None or flow_run.deployment_id is None:
        return None
    task_ctx = TaskRunContext.get()
    if task_ctx is not None and task_ctx.task_run is not None and task_ctx.task_run.flow_run_id != flow_run.id:
        return None  # a stale flow context (a task run submitted elsewhere)
    return flow_run.id


def input_key(idempotency_key: str) -> str:
    """The run input key for a send (Prefect allows letters, digits and dashes in those)."""
    return KEY_PREFIX + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:48]


def recall(idempotency_key: str | None, request: Mapping[str, Any]) -> dict[str, Any] | None:
    """What an earlier run of this deployment run sent for this key and request, or None."""
    run_id = _deployment_run_id()
    if run_id is None or idempotency_key is None:
        return None
    try:
        value = call_sync(read_flow_run_input, input_key(idempotency_key), flow_run_id=run_id)
    except Exception:
        _module_logger.debug("Could not read the sends remembered in the flow run", exc_info=True)
        return None
    if not isinstance(value, dict) or value.get("request") != content_digest(request):
        return None  # another request under the same key: the server decides (409)
    return value


def remember(idempotency_key: str | None, request: Mapping[str, Any], *, message_id: str,
             thread_id: str | None = None) -> None:
    """Keep a send's answer with the deployment run (nothing outside one)."""
    run_id = _deployment_run_id()
    if run_id is None or idempotency_key is None:
        return
    value = {"message_id": message_id, "thread_id": thread_id, "request": content_digest(request)}
    try:
        call_sync(create_flow_run_input, input_key(idempotency_key), value, flow_run_id=run_id)
    except Exception:  # already kept (a repeat within the key's 24 h), or Prefect unreachable
        _module_logger.debug("Could not remember the send in the flow run", exc_info=True)
