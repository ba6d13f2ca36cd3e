"""Webhook deliveries whose target is Prefect rather than a URL.

`prefect_deployment`: each matching event creates a flow run of a deployment on the server's
configured Prefect API, with the event's data (for `message.received`, the inbound message) as
one flow parameter. The delivery id is the run's idempotency key, so a retried delivery (the
create succeeded but its answer was lost) returns the same run instead of starting a second.
The run id is recorded on the message (`metadata.prefect.flow_runs`) and in the audit trail.

`prefect_events`: each matching event is emitted into Prefect's event stream, where automations
and deployment triggers can react to it.

Both ride on the webhook delivery rows, so they are written with their event, retried on the
webhook schedule, listed with their attempts and redeliverable like any webhook.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..core.prefect_events import prefect_event
from ..prefect_api import CallResult, PrefectApi
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from ..webhooks.sender import AttemptResult
from .common import record
from .context import Context


def _attempt(res: CallResult) -> AttemptResult:
    body = res.body if isinstance(res.body, str) else json.dumps(res.body, default=str) if res.body is not None else ""
    return AttemptResult(ok=res.ok, status_code=res.status_code, body=body[:2000], error=res.error, retry_after=None,
                         duration_ms=res.duration_ms, refused=not res.ok and not res.retryable)


def deliver(api: PrefectApi | None, kind: str, target: dict[str, Any], delivery: dict[str, Any]) -> tuple[AttemptResult, dict | None]:
    """One attempt: the result as a webhook attempt, and the created flow run (prefect_deployment)."""
    if api is None:  # retried: the server may be restarted with its Prefect API configured
        return AttemptResult(ok=False, status_code=None, body="", error="This server has no Prefect API configured "
                             "(--prefect-api-url).", retry_after=None, duration_ms=0), None
    envelope = json.loads(delivery["payload"])
    if kind == "prefect_events":
        return _attempt(api.emit_events([prefect_event(envelope)])), None
    found = api.deployment(target["deployment"])  # by name: whichever deployment has that name now
    if not found.ok:
        return _attempt(found), None
    deployment_id = found.body["id"]
    res = api.create_flow_run(deployment_id, parameters={target["parameter"]: envelope["data"]},
                              idempotency_key=f"multimail-{delivery['id']}", tags=["multimail", envelope["type"]])
    run = None
    if res.ok and isinstance(res.body, dict):
        run = {"flow_run_id": res.body.get("id"), "flow_run_name": res.body.get("name"), "deployment_id": deployment_id}
    return _attempt(res), run


def note_flow_run(tx, ctx: Context, *, hook: dict[str, Any], delivery: dict[str, Any], flow_run: dict[str, Any],
                  now: datetime) -> None:
    """Record the run a delivery started on its message and in the audit trail (same transaction
    as the delivery's success, so a redelivery that returns the same run records it once)."""
    data = json.loads(delivery["payload"]).get("data") or {}
    msg = message_q.by_id(tx, data["message_id"], lock=True) if data.get("message_id") else None
    entry = {**flow_run, "webhook_id": hook["id"], "event": delivery["event_type"]}
    if msg is not None:
        meta = dict(msg["metadata"] or {})
        prefect = dict(meta.get("prefect") or {})
        runs = [r for r in prefect.get("flow_runs") or [] if r.get("flow_run_id") != flow_run["flow_run_id"]]
        prefect["flow_runs"] = [*runs, entry]
        meta["prefect"] = prefect
        message_q.update_message(tx, msg["id"], {"metadata": meta})
    box = mailbox_q.by_id(tx, msg["mailbox_id"]) if msg else None
    record(tx, at=now, principal=None, action="prefect.flow_run_created", mailbox=box, message=msg,
           details={**entry, "delivery_id": delivery["id"]})
