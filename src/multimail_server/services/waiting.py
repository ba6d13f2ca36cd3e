"""What each long-poll waits for: the "is it done yet" rule of list_pending and get_thread.

The routes (and any other interface that long-polls) only adapt their protocol to these; the
parking itself is services/wait_hub.py.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread

from ..core import flow_run_waits as run_rules
from ..core.access import Principal
from ..core.errors import BadRequest
from . import approvals as approvals_svc
from . import reading as reading_svc
from .approvals import pending_view
from .common import find_mailbox, find_message
from .context import Context
from .wait_hub import PendingScope, Target, check_wait, wait_until

# -- the long-polled answers ------------------------------------------------------------------------

def pending_of_message(ctx: Context, *, principal: Principal, message_id: str) -> dict[str, Any]:
    """list_pending narrowed to one message: its approval item whatever its age (a decision older
    than the 24 h window is still reported), or no item when the message was never held."""
    with ctx.store.read() as tx:
        msg, mailbox = find_message(tx, principal, message_id)
        # The same approval item as list_pending: all that will leave, and its content hash.
        return {"messages": [pending_view(tx, msg, mailbox)] if msg["approval_status"] is not None else []}


def pending_settled(answer: dict[str, Any]) -> bool:
    return any(m["status"] != "pending" for m in answer["messages"])


def pending_signature(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["message_id"], m["status"]) for m in answer["messages"]]


def pending_scope(ctx: Context, *, principal: Principal, mailbox: str | None, flow_run_id: str | None) -> PendingScope:
    """What a pending-list long-poll watches (404 for a mailbox outside the key's scope)."""
    run = run_rules.flow_run_id(flow_run_id) if flow_run_id is not None else None
    if mailbox is not None:
        with ctx.store.read() as tx:
            return PendingScope(mailbox_id=find_mailbox(tx, principal, mailbox)["id"], flow_run_id=run)
    return PendingScope(addresses=principal.mailboxes, flow_run_id=run)


async def wait_for_pending(ctx: Context, *, principal: Principal, wait: float, message_id: str | None = None,
                           mailbox: str | None = None, flow_run_id: str | None = None) -> dict[str, Any]:
    """list_pending with a long-poll. With `message_id`: done when that message is no longer
    pending (or was never held). Otherwise: done when the list differs from the first answer."""
    if message_id is not None:
        def fetch() -> dict[str, Any]:
            return pending_of_message(ctx, principal=principal, message_id=message_id)

        def done(answer: dict[str, Any]) -> bool:
            return not answer["messages"] or pending_settled(answer)

        return await wait_until(ctx, principal, Target("message", message_id), fetch, done, wait,
                                share=("pending_of_message", message_id))

    first: list[list[tuple[str, str]]] = []

    def fetch_list() -> dict[str, Any]:
        return approvals_svc.list_pending(ctx, principal=principal, mailbox=mailbox, flow_run_id=flow_run_id)

    def changed(answer: dict[str, Any]) -> bool:
        signature = pending_signature(answer)
        if not first:
            first.append(signature)
            return False
        return signature != first[0]

    if check_wait(wait) == 0:
        return await to_thread.run_sync(fetch_list)
    scope = await to_thread.run_sync(lambda: pending_scope(ctx, principal=principal, mailbox=mailbox,
                                                           flow_run_id=flow_run_id))
    return await wait_until(ctx, principal, Target("pending", scope), fetch_list, changed, wait,
                            share=("list_pending", mailbox, flow_run_id))


def thread_position(thread: dict[str, Any], after_message_id: str | None) -> int:
    """How many of the thread's messages the caller has seen (up to and including after_message_id)."""
    ids = [m["message_id"] for m in thread["messages"]]
    if after_message_id is None:
        return len(ids)
    if after_message_id not in ids:
        raise BadRequest("after_message_id is not a message of this thread.", code="not_in_thread",
                         details={"field": "after_message_id", "message_id": after_message_id})
    return ids.index(after_message_id) + 1


async def wait_for_thread(ctx: Context, *, principal: Principal, thread_id: str, wait: float,
                          after_message_id: str | None = None, min_messages: int | None = None) -> dict[str, Any]:
    """get_thread with a long-poll. News is a message after `after_message_id`, or at least
    `min_messages` messages; with neither, a decision (at once if there already is one) or a
    message newer than those of the first answer."""
    seen: list[int] = []

    def fetch() -> dict[str, Any]:
        return reading_svc.get_thread(ctx, principal=principal, thread_id=thread_id)

    def done(thread: dict[str, Any]) -> bool:
        if not seen:
            if after_message_id is not None:
                seen.append(thread_position(thread, after_message_id))
            elif min_messages is not None:
                seen.append(min_messages - 1)
            else:
                seen.append(len(thread["messages"]))
        if after_message_id is None and min_messages is None and thread["decision"] is not None:
            return True
        return len(thread["messages"]) > seen[0]

    return await wait_until(ctx, principal, Target("thread", thread_id), fetch, done, wait, share=("get_thread", thread_id))
