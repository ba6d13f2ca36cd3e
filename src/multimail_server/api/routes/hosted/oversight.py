"""/v1/oversight/pending and /v1/oversight/decide: list_pending, approve_message and reject_message
(services/approvals.py). Only a key with the oversight scope (approver, admin) decides: an agent's
`decide` is a 403 and changes nothing."""

from __future__ import annotations

from fastapi import APIRouter

from ....client.types import HostedDecision, HostedPendingList
from ....services import approvals as svc
from ....services import mailboxes as mailbox_svc
from ...deps import CtxDep, PrincipalDep
from ._bodies import DecideBody
from ._common import TAG, errors

router = APIRouter(prefix="/v1", tags=[TAG])


@router.get("/oversight/pending", operation_id="hosted_list_pending", response_model=HostedPendingList,
            responses=errors())
def list_pending(ctx: CtxDep, who: PrincipalDep) -> dict:
    """Messages awaiting a human's approval in the key's mailboxes, oldest first (list_pending)."""
    ids = {m["address"]: m["mailbox_id"] for m in mailbox_svc.list_mailboxes(ctx, principal=who)}
    items = [
        {"id": p["message_id"], "mailbox_id": ids.get(p["mailbox"], p["mailbox"]), "direction": "outbound",
         "from": p["from"], "to": p["to"], "subject": p["subject"], "body_markdown": p["body"],
         "status": "pending_send_approval", "received_at": p["created_at"], "content_hash": p.get("content_hash")}
        for p in svc.list_pending(ctx, principal=who)["messages"] if p["status"] == "pending"
    ]
    return {"emails": items, "pending": items}


@router.post("/oversight/decide", operation_id="hosted_decide", response_model=HostedDecision,
             responses=errors(403, 404, 409, body=True))
def decide(body: DecideBody, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Approve (it then goes out) or reject a held message (approver or admin key)."""
    if body.action == "approve":
        svc.approve_message(ctx, principal=who, message_id=body.email_id, note=body.reason)
        return {"id": body.email_id, "status": "approved"}
    svc.reject_message(ctx, principal=who, message_id=body.email_id, reason=body.reason)
    return {"id": body.email_id, "status": "rejected"}
