"""/v1/emails (the spam bucket), /v1/emails/{email_id}/report-spam and …/not-spam: the hosted
dialect's spam review (the MCP tools list_spam, report_spam, not_spam and the official SDK's
report_spam / not_spam call these), over services/spam.py.

The hosted service lists spam per account; here it is every mailbox the key may use (or
`mailbox_id`). Answers: the list as `{"emails": [EmailSummary], "cursor"}`; a label as
`{"id", "status", "user_label"}`, status `spam_quarantined` after report-spam and `unread` after
not-spam (the hosted SDK's documented answers)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from ....client.types import HostedEmailList, HostedSpamLabel
from ....services import spam as svc
from ...deps import CtxDep, PrincipalDep
from ._common import TAG, EmailId, errors, spam_fields

router = APIRouter(prefix="/v1", tags=[TAG])


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["message_id"], "from": item["from"], "to": item["to"], "cc": item["cc"], "subject": item["subject"],
        "direction": "inbound", "status": "spam_" + item["spam"]["state"], **spam_fields(item),
        "received_at": item["received_at"], "thread_id": item["thread_id"], "has_attachments": item["has_attachments"],
        "delivered_at": None, "bounced_at": None, "bounce_type": None,
    }


@router.get("/emails", operation_id="hosted_list_spam", response_model=HostedEmailList, responses=errors(400, 404))
def list_spam(
    ctx: CtxDep,
    who: PrincipalDep,
    status: Literal["spam_flagged", "spam_quarantined"] | None = Query(
        None, description="Only flagged or only quarantined mail; omitted: both."),
    limit: int = Query(20, ge=1, le=100, description="At most this many messages (1-100; default 20)."),
    cursor: str | None = Query(None, description="The `cursor` of the previous page; omit it for the first page."),
    mailbox_id: str | None = Query(None, description="Only this mailbox's spam (id or address)."),
) -> dict:
    """Spam-flagged and quarantined mail of the key's mailboxes, newest first (list_spam)."""
    page = svc.list_spam(ctx, principal=who, mailbox=mailbox_id, state=status.removeprefix("spam_") if status else None,
                         limit=limit, cursor=cursor)
    return {"emails": [_summary(m) for m in page["messages"]], "cursor": page["next_cursor"]}


@router.post("/emails/{email_id}/report-spam", operation_id="hosted_report_spam", response_model=HostedSpamLabel,
             responses=errors(400, 403, 404, body=True))
def report_spam(ctx: CtxDep, who: PrincipalDep, email_id: str = EmailId) -> dict:
    """Quarantine a received message as spam (report_spam)."""
    done = svc.report_spam(ctx, principal=who, message_id=email_id)
    return {"id": done["message_id"], "status": "spam_quarantined", "user_label": "spam"}


@router.post("/emails/{email_id}/not-spam", operation_id="hosted_not_spam", response_model=HostedSpamLabel,
             responses=errors(400, 403, 404, body=True))
def not_spam(ctx: CtxDep, who: PrincipalDep, email_id: str = EmailId) -> dict:
    """Restore a message from spam to the inbox, unread (not_spam)."""
    done = svc.not_spam(ctx, principal=who, message_id=email_id)
    return {"id": done["message_id"], "status": "unread" if done["read"] is False else "read", "user_label": "not_spam"}
