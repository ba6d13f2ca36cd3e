"""Live updates (server-sent events, sse-starlette): the queue re-rendered whenever a message is
held, decided, edited or approved by one more approver (N of M) anywhere (API, CLI, email,
another approver), and a held message's page told when that happened to it.

No polling of its own: each stream parks on the long-poll hub (services/wait_hub.py), which
wakes it on any commit of this process and within about a second on other processes' (a
partial approval and an edit change the versions it watches, store/waits.py). The
session is checked again before every wait, so a revoked key's streams end within one wait."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator

from anyio import to_thread
from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from ..core.errors import Unauthorized
from ..services import dashboard_queries as queries
from ..services import dashboard_sessions as sessions
from ..services.wait_hub import hub_for
from ..services.waiting import pending_scope
from .web import SESSION_COOKIE, DashboardRoute, SessionDep, ctx_of, fragment

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

WAIT_SECONDS = 20.0  # about how long a stream parks before it checks its session again


def _wait_seconds() -> float:
    """WAIT_SECONDS give or take a quarter, drawn per wait. Streams opened together (a team's
    dashboards after a deploy, a thousand in the benchmark) would otherwise all check their
    session and re-read their queue in the same instant every WAIT_SECONDS, a burst of reads
    that every API request of the process queued behind (send_email's p99 went from 25 ms idle
    to 400 ms with 1 000 streams open); spread out, the same reads cost a steady trickle."""
    return WAIT_SECONDS * random.uniform(0.75, 1.25)
PING_SECONDS = 15


async def _still_signed_in(request: Request) -> bool:
    ctx = ctx_of(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        await to_thread.run_sync(lambda: sessions.principal_for_session(ctx, cookie))
    except Unauthorized:
        return False
    return True


@router.get("/events/queue")
async def queue_events(request: Request, session: SessionDep, mailbox: str = "", flow_run: str = "") -> EventSourceResponse:
    ctx = ctx_of(request)
    hub = hub_for(ctx.store)
    # A mailbox outside the key's scope, or a malformed flow run id, is refused before streaming.
    await to_thread.run_sync(lambda: pending_scope(ctx, principal=session.principal, mailbox=mailbox or None,
                                                   flow_run_id=flow_run or None))

    async def stream() -> AsyncIterator[ServerSentEvent]:
        shown: list | None = None
        while not hub.closing:
            if shown is not None and not await _still_signed_in(request):
                yield ServerSentEvent(event="signed_out", data="{}")
                return
            answer = await queries.next_queue(ctx, principal=session.principal, mailbox=mailbox or None,
                                              flow_run_id=flow_run or None, shown=shown,
                                              wait=0 if shown is None else _wait_seconds())
            signature = queries.queue_signature(answer)
            if signature != shown:
                shown = signature
                data = {
                    "count": len(answer["held"]),
                    "held": fragment(request, "_queue_rows.html", session, held=answer["held"]),
                    "decided": fragment(request, "_decided.html", session, decided=answer["decided"]),
                }
                yield ServerSentEvent(event="queue", data=json.dumps(data))

    return EventSourceResponse(stream(), ping=PING_SECONDS, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/events/messages/{message_id}")
async def message_events(request: Request, session: SessionDep, message_id: str, v: str = "", n: str = "") -> EventSourceResponse:
    """`v`: the content version the page shows; `n`: how many approvals it shows (N of M). The
    stream says "approvals" each time another approver approves, and "changed" (then ends) once
    the message was decided or edited."""
    ctx = ctx_of(request)
    hub = hub_for(ctx.store)
    await to_thread.run_sync(lambda: queries.held_message(ctx, principal=session.principal, message_id=message_id))
    shown = int(n) if n.isdigit() else None

    async def stream() -> AsyncIterator[ServerSentEvent]:
        nonlocal shown
        while not hub.closing:
            answer = await queries.message_changed(ctx, principal=session.principal, message_id=message_id,
                                                   content_hash=v, wait=_wait_seconds(), approvals=shown)
            items = answer["messages"]
            if not items or items[0]["status"] != "pending" or items[0]["content_hash"] != v:
                item = items[0] if items else {}
                yield ServerSentEvent(event="changed", data=json.dumps({
                    "status": item.get("status"), "decided_by": item.get("decided_by"),
                    "decision_note": item.get("decision_note"), "content_hash": item.get("content_hash")}))
                return
            approvals = items[0].get("approvals") or []
            if shown is not None and len(approvals) != shown:
                shown = len(approvals)
                yield ServerSentEvent(event="approvals", data=json.dumps({
                    "approvals": [a["by"] for a in approvals], "required": items[0].get("approvals_required") or 1}))
            if not await _still_signed_in(request):
                yield ServerSentEvent(event="signed_out", data="{}")
                return

    return EventSourceResponse(stream(), ping=PING_SECONDS, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
