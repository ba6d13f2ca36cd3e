"""list_suppressions, add_suppression, remove_suppression: the per-mailbox suppression list
(services/suppressions.py). Hard bounces and complaints add to it by themselves (services/bounces.py);
removing an entry takes an approver or admin key."""

from fastapi import APIRouter, Query

from ...client.types import SuppressionAdded, SuppressionPage, SuppressionsRemoved
from ...services import suppressions as svc
from ..deps import CtxDep, PrincipalDep
from ..errors import responses
from ..schemas import AddSuppression, RemoveSuppression

router = APIRouter(prefix="/v1", tags=["suppressions"])


@router.get("/list_suppressions", operation_id="list_suppressions", response_model=SuppressionPage, responses=responses(400, 404))
def list_suppressions(
    ctx: CtxDep,
    who: PrincipalDep,
    mailbox: str | None = Query(None, description="Address or mailbox id; omitted: every mailbox the key may use."),
    address: str | None = Query(None, description="Only the entry for this address (any spelling of it)."),
    cursor: str | None = Query(None, description="next_cursor of the previous page."),
    limit: int = Query(50, ge=1, le=100, description="At most this many entries (oldest first)."),
) -> dict:
    """The suppression list: addresses a mailbox refuses to send to, with why (`reason`:
    hard_bounce, complaint or manual; `detail`) and since when. Any key that may use the mailbox."""
    return svc.list_suppressions(ctx, principal=who, mailbox=mailbox, address=address, cursor=cursor, limit=limit)


@router.post("/add_suppression", operation_id="add_suppression", response_model=SuppressionAdded, responses=responses(404, body=True))
def add_suppression(body: AddSuppression, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Stop a mailbox sending to an address (reason `manual`). Any key that may use the mailbox:
    adding only ever sends less. Adding one already listed answers that entry, `added: false`."""
    return svc.add_suppression(ctx, principal=who, mailbox=body.mailbox, address=body.address, detail=body.detail)


@router.post("/remove_suppression", operation_id="remove_suppression", response_model=SuppressionsRemoved,
             responses=responses(403, 404, body=True))
def remove_suppression(body: RemoveSuppression, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Let a mailbox send to a suppressed address again: approver or admin keys only (403
    `insufficient_scope` for an agent key), 404 `suppression_not_found` when it is not listed."""
    return svc.remove_suppression(ctx, principal=who, mailbox=body.mailbox, address=body.address)
