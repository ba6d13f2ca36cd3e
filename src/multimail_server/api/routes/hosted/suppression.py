"""/v1/suppression[/{address}]: the hosted dialect's suppression list (the MCP tools
check_suppression and remove_suppression call these), over services/suppressions.py.

The hosted service keeps one list per account; here each mailbox has its own, so the list answers
the entries of every mailbox the key may use (or of `mailbox_id`), each naming its mailbox, and a
removal takes the address off every such mailbox's list. Removing takes an approver or admin key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query

from ....client.types import HostedSuppressionList, HostedSuppressionRemoved
from ....services import suppressions as svc
from ...deps import CtxDep, PrincipalDep
from ._common import TAG, errors

router = APIRouter(prefix="/v1", tags=[TAG])


def _shape(entry: dict[str, Any]) -> dict[str, Any]:
    return {"email_address": entry["address"], "reason": entry["reason"], "detail": entry["detail"],
            "mailbox_id": entry["mailbox_id"], "mailbox": entry["mailbox"], "message_id": entry["message_id"],
            "created_at": entry["created_at"]}


@router.get("/suppression", operation_id="hosted_list_suppression", response_model=HostedSuppressionList,
            responses=errors(400, 404))
def list_suppression(
    ctx: CtxDep,
    who: PrincipalDep,
    limit: int = Query(20, ge=1, le=100, description="At most this many entries (oldest first)."),
    cursor: str | None = Query(None, description="next_cursor of the previous page."),
    mailbox_id: str | None = Query(None, description="Only this mailbox's list (id or address)."),
) -> dict:
    """Suppressed addresses (hard bounces, complaints, manual entries) of the key's mailboxes."""
    page = svc.list_suppressions(ctx, principal=who, mailbox=mailbox_id, cursor=cursor, limit=limit)
    return {"suppressions": [_shape(e) for e in page["suppressions"]], "next_cursor": page["next_cursor"]}


@router.delete("/suppression/{address}", operation_id="hosted_remove_suppression", response_model=HostedSuppressionRemoved,
               responses=errors(403, 404))
def remove_suppression(ctx: CtxDep, who: PrincipalDep,
                       address: str = Path(description="The suppressed address (URL-encoded; any spelling of it).")) -> dict:
    """Take an address off the suppression list of every mailbox the key may use (approver or admin)."""
    done = svc.remove_suppression(ctx, principal=who, mailbox=None, address=address)
    return {"email_address": done["removed"][0]["address"], "status": "removed", "removed": len(done["removed"])}
