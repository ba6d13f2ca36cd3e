"""/v1/audit-log: audit_log (services/audit.py) in the hosted dialect, newest first with a cursor."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from ....client.types import HostedAuditPage
from ....services import audit as svc
from ...deps import CtxDep, PrincipalDep
from ._common import TAG, errors

router = APIRouter(prefix="/v1", tags=[TAG])
# What a change was about, for events that concern no message: the details key naming it.
_RESOURCE_KEYS = {"mailbox": "mailbox_id", "api_key": "key_id", "webhook": "webhook_id", "domain": "domain"}


def _entry(event: dict[str, Any]) -> dict[str, Any]:
    kind = event["action"].split(".", 1)[0]
    details = event["details"] or {}
    if event["message_id"]:
        kind, resource = "message", event["message_id"]
    elif kind == "mailbox":
        resource = event["mailbox_id"] or details.get("mailbox_id")
    else:
        resource = details.get(_RESOURCE_KEYS.get(kind, ""))
    metadata = {**details, "mailbox": event["mailbox"], "actor_role": event["actor_role"],
                "oversight_mode": event["oversight_mode"], "approval_status": event["approval_status"]}
    return {"id": event["event_id"], "action": event["action"], "resource_type": kind,
            "resource_id": str(resource or event["event_id"]), "actor_key_id": event["actor"] or "system",
            "metadata": metadata, "created_at": event["at"]}


@router.get("/audit-log", operation_id="hosted_audit_log", response_model=HostedAuditPage, responses=errors())
def audit_log(
    ctx: CtxDep,
    who: PrincipalDep,
    limit: int = Query(50, ge=1, le=100, description="At most this many entries (1-100; default 50)."),
    cursor: str | None = Query(None, description="The `cursor` of the previous page; omit it for the first page."),
) -> dict:
    """The audit trail of the key's mailboxes (and, for admins, of keys and webhooks), newest first."""
    page = svc.audit_log(ctx, principal=who, limit=limit, cursor=cursor)
    return {"entries": [_entry(e) for e in page["events"]], "cursor": page["next_cursor"]}
