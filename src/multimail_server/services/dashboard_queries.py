"""What the dashboard reads that no single API verb answers, built on the API's own services
(so a key sees exactly what its scope allows there): the queue (held mail, newest first, with
the flow run, its approval deadline and N-of-M progress), its live wait, the HTML of a held message with remote content
on request, and a thread with each inbound message's authentication verdict."""

from __future__ import annotations

import time
from typing import Any

import nh3
from anyio import to_thread

from ..core.access import Principal
from ..core.decision_secrets import redact_text
from ..core.errors import NotFound
from ..core.flow_run_waits import flow_run_id_from_metadata
from . import approvals as approvals_svc
from . import reading as reading_svc
from .common import find_message
from .context import Context
from .wait_hub import Target, wait_until
from .waiting import pending_of_message, pending_scope


def _policy(item: dict[str, Any]) -> dict[str, Any]:
    """The deadline the queue's "time left" counts down to: the held message's `approval_due_at`
    (its approval timeout, which services/approval_worker.py acts on with `on_timeout`)."""
    return {"deadline": item.get("approval_due_at")}


def queue(ctx: Context, *, principal: Principal, mailbox: str | None = None, flow_run_id: str | None = None) -> dict[str, Any]:
    """list_pending as an approver works it: the held messages newest first, each with the Prefect
    flow run that queued it and its deadline if it has one, and those decided in the last 24 h."""
    answer = approvals_svc.list_pending(ctx, principal=principal, mailbox=mailbox, flow_run_id=flow_run_id)
    items = [{**m, "flow_run_id": flow_run_id_from_metadata(m.get("metadata")), **_policy(m)}
             for m in answer["messages"]]
    newest_first = sorted(items, key=lambda m: m["created_at"] or "", reverse=True)
    decided = [m for m in items if m["status"] != "pending"]
    decided.sort(key=lambda m: m["decided_at"] or "", reverse=True)
    return {"held": [m for m in newest_first if m["status"] == "pending"], "decided": decided}


def queue_signature(answer: dict[str, Any]) -> list[tuple[str, str, str, tuple[str, ...], bool]]:
    """What makes the queue look different: which messages, in which state, in which version,
    with which approvals so far (N of M), escalated or not."""
    return [(m["message_id"], m["status"], m.get("content_hash") or "", tuple(a["by"] for a in m.get("approvals") or []),
             bool(m.get("escalated"))) for m in answer["held"] + answer["decided"]]


async def next_queue(ctx: Context, *, principal: Principal, mailbox: str | None, flow_run_id: str | None,
                     shown: list | None, wait: float) -> dict[str, Any]:
    """The queue as soon as it differs from what the approver was shown (at once when it already
    does), or as it is after `wait` seconds; parked on the long-poll hub, woken by any commit of
    this process and within about a second by other processes' (services/wait_hub.py)."""
    scope = await to_thread.run_sync(lambda: pending_scope(ctx, principal=principal, mailbox=mailbox, flow_run_id=flow_run_id))

    def fetch() -> dict[str, Any]:
        return queue(ctx, principal=principal, mailbox=mailbox, flow_run_id=flow_run_id)

    return await wait_until(ctx, principal, Target("pending", scope), fetch, lambda a: queue_signature(a) != shown, wait,
                            share=("dashboard_queue", mailbox, flow_run_id))


# The long-poll hub's version of one message (store/waits.message_versions) changes with a
# decision, an approval under N of M and an edit, so those wake a page's stream at once. Only an
# edit to exactly as many characters leaves that version alone: a held message's page re-reads
# its full version this often as well (a read per open page per interval) to learn of it.
EDIT_CHECK_SECONDS = 5.0


def _moved(answer: dict[str, Any], content_hash: str, approvals: int | None) -> bool:
    items = answer["messages"]
    if not items or items[0]["status"] != "pending" or items[0]["content_hash"] != content_hash:
        return True
    return approvals is not None and len(items[0].get("approvals") or []) != approvals


async def message_changed(ctx: Context, *, principal: Principal, message_id: str, content_hash: str, wait: float,
                          approvals: int | None = None) -> dict[str, Any]:
    """A held message's approval item once it was decided, approved by one more approver (when
    `approvals`, the count shown, is given) or changed from the version shown, or as it is after
    `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        def fetch() -> dict[str, Any]:
            return pending_of_message(ctx, principal=principal, message_id=message_id)

        answer = await wait_until(ctx, principal, Target("message", message_id), fetch,
                                  lambda a: _moved(a, content_hash, approvals),
                                  max(0.0, min(EDIT_CHECK_SECONDS, deadline - time.monotonic())),
                                  share=("pending_of_message", message_id))
        if _moved(answer, content_hash, approvals) or time.monotonic() >= deadline:
            return answer


def held_message(ctx: Context, *, principal: Principal, message_id: str) -> dict[str, Any]:
    """A held (or decided) outbound message as its approver sees it (404 outside the key's scope,
    or for a message that was never held)."""
    items = pending_of_message(ctx, principal=principal, message_id=message_id)["messages"]
    if not items:
        raise NotFound(f"Message {message_id!r} was never held for approval.", code="message_not_held",
                       details={"message_id": message_id})
    item = items[0]
    return {**item, "flow_run_id": flow_run_id_from_metadata(item.get("metadata")), **_policy(item)}


def message_html(ctx: Context, *, principal: Principal, message_id: str, remote: bool) -> str | None:
    """A message's HTML for the dashboard's sandboxed frame: as the API shows it (sanitised, every
    remote reference removed), or, when the approver asks to load remote content, sanitised the
    same way (no scripts, styles, forms, frames, event handlers) but keeping image sources."""
    if not remote:
        return reading_svc.read_email(ctx, principal=principal, message_id=message_id, mark_read=False)["html"]
    with ctx.store.read() as tx:
        msg, _ = find_message(tx, principal, message_id)
    if msg["body_html"] is None:
        return None
    return redact_text(nh3.clean(msg["body_html"], link_rel="noopener noreferrer nofollow"))


def thread(ctx: Context, *, principal: Principal, thread_id: str) -> dict[str, Any]:
    """get_thread, each message with its authentication verdict (inbound) and approval state."""
    answer = reading_svc.get_thread(ctx, principal=principal, thread_id=thread_id)
    for m in answer["messages"]:
        full = reading_svc.read_email(ctx, principal=principal, message_id=m["message_id"], mark_read=False)
        m["authentication"] = full.get("authentication")
        m["approval_status"] = full.get("approval_status")
        m["html"] = full.get("html")
    return answer
