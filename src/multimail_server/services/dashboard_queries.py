"""What the dashboard reads that no single API verb answers, built on the API's own services
(so a key sees exactly what its scope allows there): the queue (held mail, newest first, with
the flow run and any deadline), its live wait, the HTML of a held message with remote content
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

# Fields a held message may carry with the time its wait runs out (approval policies set them).
DEADLINE_FIELDS = ("approval_deadline", "timeout_at", "expires_at")


def _deadline(item: dict[str, Any]) -> str | None:
    for source in (item, item.get("policy") or {}, item.get("metadata") or {}):
        if isinstance(source, dict):
            for name in DEADLINE_FIELDS:
                if isinstance(source.get(name), str):
                    return source[name]
    return None


def queue(ctx: Context, *, principal: Principal, mailbox: str | None = None, flow_run_id: str | None = None) -> dict[str, Any]:
    """list_pending as an approver works it: the held messages newest first, each with the Prefect
    flow run that queued it and its deadline if it has one, and those decided in the last 24 h."""
    answer = approvals_svc.list_pending(ctx, principal=principal, mailbox=mailbox, flow_run_id=flow_run_id)
    items = [{**m, "flow_run_id": flow_run_id_from_metadata(m.get("metadata")), "deadline": _deadline(m)}
             for m in answer["messages"]]
    newest_first = sorted(items, key=lambda m: m["created_at"] or "", reverse=True)
    decided = [m for m in items if m["status"] != "pending"]
    decided.sort(key=lambda m: m["decided_at"] or "", reverse=True)
    return {"held": [m for m in newest_first if m["status"] == "pending"], "decided": decided}


def queue_signature(answer: dict[str, Any]) -> list[tuple[str, str, str]]:
    """What makes the queue look different: which messages, in which state, in which version."""
    return [(m["message_id"], m["status"], m.get("content_hash") or "") for m in answer["held"] + answer["decided"]]


async def next_queue(ctx: Context, *, principal: Principal, mailbox: str | None, flow_run_id: str | None,
                     shown: list[tuple[str, str, str]] | None, wait: float) -> dict[str, Any]:
    """The queue as soon as it differs from what the approver was shown (at once when it already
    does), or as it is after `wait` seconds; parked on the long-poll hub, woken by any commit of
    this process and within about a second by other processes' (services/wait_hub.py)."""
    scope = await to_thread.run_sync(lambda: pending_scope(ctx, principal=principal, mailbox=mailbox, flow_run_id=flow_run_id))

    def fetch() -> dict[str, Any]:
        return queue(ctx, principal=principal, mailbox=mailbox, flow_run_id=flow_run_id)

    return await wait_until(ctx, principal, Target("pending", scope), fetch, lambda a: queue_signature(a) != shown, wait)


# The long-poll hub's version of one message is its approval status: a decision wakes a waiter at
# once, an edit (same status, new content) does not. So a held message's page also re-reads its
# version this often (a read per open page per interval) to learn of edits made elsewhere.
EDIT_CHECK_SECONDS = 1.0


async def message_changed(ctx: Context, *, principal: Principal, message_id: str, content_hash: str, wait: float) -> dict[str, Any]:
    """A held message's approval item once it was decided (at once) or changed from the version
    shown (within EDIT_CHECK_SECONDS), or as it is after `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        answer = await _message_changed(ctx, principal=principal, message_id=message_id, content_hash=content_hash,
                                        wait=max(0.0, min(EDIT_CHECK_SECONDS, deadline - time.monotonic())))
        items = answer["messages"]
        if not items or items[0]["status"] != "pending" or items[0]["content_hash"] != content_hash:
            return answer
        if time.monotonic() >= deadline:
            return answer


async def _message_changed(ctx: Context, *, principal: Principal, message_id: str, content_hash: str, wait: float) -> dict[str, Any]:
    def fetch() -> dict[str, Any]:
        return pending_of_message(ctx, principal=principal, message_id=message_id)

    def done(answer: dict[str, Any]) -> bool:
        items = answer["messages"]
        return not items or items[0]["status"] != "pending" or items[0]["content_hash"] != content_hash

    return await wait_until(ctx, principal, Target("message", message_id), fetch, done, wait)


def held_message(ctx: Context, *, principal: Principal, message_id: str) -> dict[str, Any]:
    """A held (or decided) outbound message as its approver sees it (404 outside the key's scope,
    or for a message that was never held)."""
    items = pending_of_message(ctx, principal=principal, message_id=message_id)["messages"]
    if not items:
        raise NotFound(f"Message {message_id!r} was never held for approval.", code="message_not_held",
                       details={"message_id": message_id})
    item = items[0]
    return {**item, "flow_run_id": flow_run_id_from_metadata(item.get("metadata")), "deadline": _deadline(item)}


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
