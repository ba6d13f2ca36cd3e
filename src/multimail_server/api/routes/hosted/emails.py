"""…/emails[/{email_id}], attachments, tags, threads and cancel: check_inbox, read_email,
get_attachment, tag_email, get_thread and cancel_message (services/reading.py, approvals.py) in the
hosted dialect. A message has one id in both dialects (msg_...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from ....client.types import (
    HostedAttachmentUrl,
    HostedEmail,
    HostedEmailList,
    HostedStatus,
    HostedTagDeleted,
    HostedTags,
    HostedThread,
)
from ....core.errors import BadRequest, Conflict, NotFound
from ....services import approvals as approval_svc
from ....services import reading as svc
from ....services.common import iso
from ...deps import CtxDep, PrincipalDep
from ...schemas import SEARCH_DESCRIPTION
from ._bodies import TagsBody
from ._common import NOT_SPAM, STATUS_FILTER, TAG, EmailId, MailboxId, delivered_at, email_status, errors, spam_fields

router = APIRouter(prefix="/v1", tags=[TAG])
Status = Literal["unread", "read", "archived", "deleted", "pending_send_approval", "pending_inbound_approval",
                 "rejected", "cancelled", "send_failed", "scheduled", "spam_flagged", "spam_quarantined"]
Filename = Path(description="The attachment's file name, as the message's `attachments` list names it.")


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["message_id"], "from": item["from"], "to": item["to"], "cc": item["cc"], "subject": item["subject"],
        "direction": item["direction"], "status": email_status(item), **spam_fields(item),
        "received_at": item["received_at"], "thread_id": item["thread_id"], "has_attachments": item["has_attachments"],
        "delivered_at": delivered_at(item), "bounced_at": None, "bounce_type": None, "send_at": item.get("send_at"),
    }


def _time(value: str | None, field: str) -> datetime | None:
    """A time filter as the hosted API takes it: an ISO 8601 string (a trailing Z allowed); an
    empty one is no filter, as the hosted document types it a plain string."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{field} must be an ISO 8601 time, e.g. 2026-03-15T14:00:00Z.", code="invalid_field",
                         details={"field": field}) from None


@router.get("/mailboxes/{mailbox_id}/emails", operation_id="hosted_list_emails", response_model=HostedEmailList,
            responses=errors(404))
def list_emails(
    ctx: CtxDep,
    who: PrincipalDep,
    mailbox_id: str = MailboxId,
    status: Status | None = Query(None, description="Only messages in this state (unread/read: inbound; read also "
                                  "covers sent mail; states this server never has match nothing)."),
    limit: int = Query(20, ge=1, le=100, description="At most this many messages (1-100; default 20)."),
    cursor: str | None = Query(None, description="The `cursor` of the previous page; omit it for the first page."),
    sender: str | None = Query(None, description="Only messages whose sender contains this (case-insensitive)."),
    subject_contains: str | None = Query(None, description="Only messages whose subject contains this (case-insensitive)."),
    date_after: str | None = Query(None, description="Only messages received (or, outbound, created) after this "
                                   "ISO 8601 time; empty: no filter."),
    date_before: str | None = Query(None, description="Only messages received (or created) before this ISO 8601 "
                                    "time; empty: no filter."),
    direction: Literal["inbound", "outbound"] | None = Query(None, description="Only inbound or only outbound mail."),
    has_attachments: Literal["true", "false"] | None = Query(None, description="Only messages with (true) or "
                                                             "without (false) attachments."),
    since_id: str | None = Query(None, description="Only messages that arrived after this message of the mailbox "
                                 "(incremental polling)."),
    offset: int = Query(0, ge=0, le=100000, description="Skip this many messages first (the official Python SDK "
                        "sends it; prefer `cursor`)."),
    q: str | None = Query(None, description=SEARCH_DESCRIPTION + " (This server's addition to the "
                          "hosted API.)"),
) -> dict:
    """The mailbox's mail in both directions, newest first, without bodies, the quarantine left
    out unless `status` names a spam state; `q` searches it (the language of check_inbox's
    `query`; 400 `invalid_query` when it is not valid syntax)."""
    page = svc.list_emails(
        ctx, principal=who, mailbox=mailbox_id, states=STATUS_FILTER[status] if status else NOT_SPAM, direction=direction,
        sender=sender, subject_contains=subject_contains, date_after=_time(date_after, "date_after"),
        date_before=_time(date_before, "date_before"),
        has_attachments=None if has_attachments is None else has_attachments == "true", since_id=since_id,
        offset=offset, limit=limit, cursor=cursor, query=q, query_field="q",
    )
    return {"emails": [_summary(e) for e in page["emails"]], "cursor": page["next_cursor"]}


@router.get("/mailboxes/{mailbox_id}/emails/{email_id}", operation_id="hosted_get_email", response_model=HostedEmail,
            responses=errors(404))
def get_email(ctx: CtxDep, who: PrincipalDep, mailbox_id: str = MailboxId, email_id: str = EmailId) -> dict:
    """The full message, its body as `markdown` (the text part) and `html`; marks it read (read_email)."""
    view, row = svc.read_email_and_row(ctx, principal=who, message_id=email_id, in_mailbox=mailbox_id)
    approved = row["approval_status"] == "approved"
    return {
        "id": view["message_id"], "from": view["from"], "to": view["to"], "cc": view["cc"], "subject": view["subject"],
        "received_at": view["received_at"] or view["created_at"], "thread_id": view["thread_id"], "markdown": view["body"],
        "html": view["html"], "direction": view["direction"], "status": email_status(view),
        "has_attachments": bool(view["attachments"]),
        "attachments": [{"name": a["filename"], "size": a["size"], "content_type": a["content_type"]} for a in view["attachments"]],
        "delivered_at": delivered_at(view), "bounced_at": None, "bounce_type": None, "send_at": view.get("send_at"),
        "approved_at": iso(row["decided_at"]) if approved else None,
        "approved_by": row["decided_by"] if approved else None, **spam_fields(view),
        "tags": view["tags"],
    }


@router.get("/mailboxes/{mailbox_id}/emails/{email_id}/attachments/{filename}", operation_id="hosted_download_attachment",
            response_class=Response, response_description="The attachment's bytes.",
            responses={**errors(404, 410), 200: {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}})
def download_attachment(ctx: CtxDep, who: PrincipalDep, mailbox_id: str = MailboxId, email_id: str = EmailId,
                        filename: str = Filename) -> Response:
    """One attachment's bytes, by file name (get_attachment); always a download, never rendered."""
    att = svc.attachment_by_name(ctx, principal=who, message_id=email_id, filename=filename, in_mailbox=mailbox_id)
    return Response(att["content"], media_type=att["content_type"],
                    headers={"Content-Disposition": "attachment; filename*=UTF-8''" + quote(att["filename"]),
                             "X-Content-Type-Options": "nosniff"})


@router.get("/mailboxes/{mailbox_id}/emails/{email_id}/attachments/{filename}/url", operation_id="hosted_attachment_url",
            response_model=HostedAttachmentUrl, responses=errors(404, 410))
def attachment_url(ctx: CtxDep, who: PrincipalDep, mailbox_id: str = MailboxId, email_id: str = EmailId,
                   filename: str = Filename) -> dict:
    """Where to download an attachment (the hosted MCP server asks first). Not a presigned URL:
    the download needs the API key, so `expires_in` is null."""
    att = svc.attachment_by_name(ctx, principal=who, message_id=email_id, filename=filename, in_mailbox=mailbox_id)
    url = (f"{ctx.settings.base_url()}/v1/mailboxes/{quote(mailbox_id, safe='')}/emails/{quote(email_id, safe='')}"
           f"/attachments/{quote(filename, safe='')}")
    return {"url": url, "filename": att["filename"], "size_bytes": att["size"], "content_type": att["content_type"],
            "expires_in": None}


@router.post("/mailboxes/{mailbox_id}/emails/{email_id}/cancel", operation_id="hosted_cancel_email",
             response_model=HostedStatus, responses=errors(403, 404, 409, body=True))
def cancel_email(ctx: CtxDep, who: PrincipalDep, mailbox_id: str = MailboxId, email_id: str = EmailId) -> dict:
    """Withdraw a message that has not gone out (cancel_message); again on a cancelled one is a 200."""
    svc.check_in_mailbox(ctx, principal=who, message_id=email_id, mailbox=mailbox_id)
    try:
        approval_svc.cancel_message(ctx, principal=who, message_id=email_id)
    except Conflict as exc:
        if exc.details.get("status") != "cancelled":
            raise
    return {"id": email_id, "status": "cancelled"}


@router.get("/mailboxes/{mailbox_id}/emails/{email_id}/tags", operation_id="hosted_get_tags", response_model=HostedTags,
            responses=errors(404))
def get_tags(ctx: CtxDep, who: PrincipalDep, mailbox_id: str = MailboxId, email_id: str = EmailId) -> dict:
    """The message's tags (key: value)."""
    return {"tags": svc.get_tags(ctx, principal=who, message_id=email_id, in_mailbox=mailbox_id)}


@router.put("/mailboxes/{mailbox_id}/emails/{email_id}/tags", operation_id="hosted_set_tags", response_model=HostedTags,
            responses=errors(404, body=True))
def set_tags(body: TagsBody, ctx: CtxDep, who: PrincipalDep, mailbox_id: str = MailboxId, email_id: str = EmailId) -> dict:
    """Replace the message's tags with these (tag_email), in one transaction."""
    done = svc.tag_email(ctx, principal=who, message_id=email_id, tags=body.tags, replace=True, in_mailbox=mailbox_id)
    return {"tags": done["tags"]}


@router.delete("/mailboxes/{mailbox_id}/emails/{email_id}/tags/{key}", operation_id="hosted_delete_tag",
               response_model=HostedTagDeleted, responses=errors(404))
def delete_tag(ctx: CtxDep, who: PrincipalDep, mailbox_id: str = MailboxId, email_id: str = EmailId,
               key: str = Path(description="The tag key to remove.")) -> dict:
    """Remove one tag (tag_email `remove`); `deleted` says whether the message had it."""
    before = svc.get_tags(ctx, principal=who, message_id=email_id, in_mailbox=mailbox_id)
    svc.tag_email(ctx, principal=who, message_id=email_id, remove=[key], in_mailbox=mailbox_id)
    return {"deleted": key in before}


@router.get("/mailboxes/{mailbox_id}/threads/{thread_id}", operation_id="hosted_get_thread", response_model=HostedThread,
            responses=errors(404))
def get_thread(ctx: CtxDep, who: PrincipalDep, mailbox_id: str = MailboxId,
               thread_id: str = Path(description="The thread's id (thr_...), as a message names it.")) -> dict:
    """The thread's messages, oldest first, without bodies (get_thread)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = svc.list_emails(ctx, principal=who, mailbox=mailbox_id, thread_id=thread_id, oldest_first=True,
                               limit=100, cursor=cursor)
        items += page["emails"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    if not items:
        raise NotFound(f"No thread {thread_id!r} in mailbox {mailbox_id!r}.", code="thread_not_found",
                       details={"thread_id": thread_id})
    participants = sorted({a for i in items for a in [i["from"], *i["to"], *i["cc"]] if a})
    return {
        "thread_id": thread_id, "subject": items[0]["subject"], "message_count": len(items), "participants": participants,
        "last_activity": max(i["received_at"] for i in items), "has_unanswered_inbound": items[-1]["direction"] == "inbound",
        "emails": [{k: v for k, v in _summary(i).items() if k in _THREAD_KEYS} for i in items],
    }


_THREAD_KEYS = ("id", "from", "to", "subject", "direction", "status", "received_at", "has_attachments", "delivered_at",
                "bounced_at")
