"""The human gate: list_pending, approve_message, reject_message, cancel_message."""

from fastapi import APIRouter, Query

from ...services import approvals as svc
from ..deps import CtxDep, PrincipalDep
from ..errors import responses
from ..schemas import ApproveMessage, RejectMessage

router = APIRouter(prefix="/v1", tags=["approvals"])


@router.get("/list_pending", operation_id="list_pending", responses=responses(404))
def list_pending(ctx: CtxDep, who: PrincipalDep, mailbox: str | None = Query(None, description="Address or mailbox id.")) -> dict:
    """Messages awaiting approval, and those decided in the last 24 h with their decision."""
    return svc.list_pending(ctx, principal=who, mailbox=mailbox)


@router.post("/approve_message", operation_id="approve_message", responses=responses(403, 404, 409, body=True))
def approve_message(body: ApproveMessage, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Approve a held message (approver/admin), optionally with edits; it then goes out."""
    return svc.approve_message(ctx, principal=who, **body.model_dump(exclude_none=True))


@router.post("/reject_message", operation_id="reject_message", responses=responses(403, 404, 409, body=True))
def reject_message(body: RejectMessage, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Reject a held message (approver/admin); it never goes out."""
    return svc.reject_message(ctx, principal=who, **body.model_dump(exclude_none=True))


@router.post("/cancel_message", operation_id="cancel_message", responses=responses(403, 404, 409, body=True))
def cancel_message(body: RejectMessage, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Withdraw a message that has not gone out (the key that queued it, or an approver)."""
    return svc.cancel_message(ctx, principal=who, **body.model_dump(exclude_none=True))
