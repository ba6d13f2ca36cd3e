"""The human gate: list_pending, approve_message, reject_message, cancel_message."""

from fastapi import APIRouter, Query

from ...client.types import OutboundPauses, PendingList, PendingMessage
from ...core.errors import BadRequest
from ...services import approvals as svc
from ...services import outbound_pause, waiting
from ..deps import CtxDep, PrincipalDep
from ..errors import responses
from ..schemas import ApproveMessage, EditMessage, PauseOutbound, RejectMessage, ResumeOutbound

router = APIRouter(prefix="/v1", tags=["approvals"])


@router.get("/list_pending", operation_id="list_pending", response_model=PendingList, responses=responses(400, 404))
async def list_pending(
    ctx: CtxDep,
    who: PrincipalDep,
    mailbox: str | None = Query(None, description="Address or mailbox id."),
    message_id: str | None = Query(None, description="Only this message (its approval item whatever its age; "
                                   "no item when it was never held). `mailbox` is then ignored."),
    flow_run_id: str | None = Query(None, description="Only the messages this Prefect flow run queued "
                                    "(metadata.prefect.flow_run_id of the send) that were held, whatever their age, or "
                                    "wait for their send_at (never held: status scheduled): what its cancellation withdraws."),
    wait: float = Query(0, ge=0, le=60, description="Long-poll: hold the answer up to this many seconds until it "
                        "changes. With `message_id`: until that message is no longer `pending` (at once if it "
                        "already is). Without: until the list differs from what it was when the request arrived "
                        "(a new held message, or a decision). 0 (the default) answers at once."),
) -> dict:
    """Messages awaiting approval, and those decided in the last 24 h with their decision.

    With `wait`, the server answers as soon as the list changes (or the message named by
    `message_id` is approved, rejected or cancelled) instead of the client polling: typically
    within milliseconds of the decision, within about a second when another server process
    sharing the database made it, and with the unchanged list when `wait` seconds pass.
    Set the client's read timeout above `wait`.
    """
    if message_id is not None and flow_run_id is not None:
        raise BadRequest("Give message_id or flow_run_id, not both.", code="invalid_body",
                         details={"fields": ["message_id", "flow_run_id"]})
    return await waiting.wait_for_pending(ctx, principal=who, wait=wait, message_id=message_id, mailbox=mailbox,
                                          flow_run_id=flow_run_id)


@router.post("/approve_message", operation_id="approve_message", response_model=PendingMessage, responses=responses(403, 404, 409, body=True))
def approve_message(body: ApproveMessage, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Approve a held message (approver/admin), optionally with edits; it then goes out.

    Give `content_hash` (from the pending item) to approve exactly what was shown: if the message
    changed since, the answer is 409 `content_changed` and nothing changes."""
    return svc.approve_message(ctx, principal=who, **body.model_dump(exclude_none=True))


@router.post("/edit_message", operation_id="edit_message", response_model=PendingMessage, responses=responses(403, 404, 409, body=True))
def edit_message(body: EditMessage, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Edit a held message (approver/admin); it stays held, with a new content_hash.

    Subject, bodies and recipients (`to`, `cc`, `bcc`, each replacing the old list) may be
    edited; the edit is audited with a diff, and approvals given for the earlier version no
    longer count."""
    return svc.edit_message(ctx, principal=who, **body.model_dump(exclude_none=True))


@router.post("/reject_message", operation_id="reject_message", response_model=PendingMessage, responses=responses(403, 404, 409, body=True))
def reject_message(body: RejectMessage, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Reject a held message (approver/admin); it never goes out."""
    return svc.reject_message(ctx, principal=who, **body.model_dump(exclude_none=True))


@router.post("/cancel_message", operation_id="cancel_message", response_model=PendingMessage, responses=responses(403, 404, 409, body=True))
def cancel_message(body: RejectMessage, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Withdraw a message that has not gone out (the key that queued it, or an approver)."""
    return svc.cancel_message(ctx, principal=who, **body.model_dump(exclude_none=True))


@router.post("/pause_outbound", operation_id="pause_outbound", response_model=OutboundPauses, responses=responses(403, 404, body=True))
def pause_outbound(body: PauseOutbound, ctx: CtxDep, who: PrincipalDep) -> dict:
    """The kill switch (admin): stop handing over any outbound mail of a mailbox, or of every mailbox.

    Queued and newly approved mail waits in the outbox, held mail stays held; nothing is dropped,
    and resume_outbound releases it in order. Audited as `outbound.paused`."""
    return outbound_pause.pause_outbound(ctx, principal=who, mailbox=body.mailbox, reason=body.reason)


@router.post("/resume_outbound", operation_id="resume_outbound", response_model=OutboundPauses, responses=responses(403, 404, body=True))
def resume_outbound(body: ResumeOutbound, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Lift a pause (admin): the mail that waited goes out in its queue order. Audited as `outbound.resumed`."""
    return outbound_pause.resume_outbound(ctx, principal=who, mailbox=body.mailbox)


@router.get("/list_paused", operation_id="list_paused", response_model=OutboundPauses, responses=responses(403))
def list_paused(ctx: CtxDep, who: PrincipalDep) -> dict:
    """The pauses in force that this key may see (approver/admin)."""
    return outbound_pause.list_pauses(ctx, principal=who)
