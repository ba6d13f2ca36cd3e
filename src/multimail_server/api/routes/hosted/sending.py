"""…/send and …/reply/{email_id}: send_email and reply_email (services/sending.py) with a markdown
body, which becomes the HTML and text parts (mail/markdown.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from ....client.types import HostedSendAnswer
from ....core import idempotency as idem
from ....mail.markdown import render_markdown
from ....services import mailboxes as mailbox_svc
from ....services import reading as reading_svc
from ....services import sending as svc
from ...deps import CtxDep, IdempotencyKeyHeader, PrincipalDep
from ._bodies import HostedAttachment, ReplyBody, SendBody
from ._common import TAG, EmailId, MailboxId, NotServed, errors

router = APIRouter(prefix="/v1", tags=[TAG])
DUPLICATE: dict[int | str, dict[str, Any]] = {200: {"model": HostedSendAnswer, "description": "An idempotent duplicate: the message the first request "
                   "created (nothing is sent twice)."}}


def _attachments(items: list[HostedAttachment] | None) -> list[dict[str, Any]] | None:
    if items is None:
        return None
    return [{"filename": a.name, "content_type": a.content_type, "content_base64": a.content_base64} for a in items]


def _idempotency(body, header_key: str | None) -> dict[str, Any]:
    key = idem.resolve_key(header_key, body.idempotency_key)
    request = body.model_dump(exclude={"idempotency_key"}, exclude_unset=True, mode="json")
    return {"idempotency_key": key, "request_fingerprint": idem.request_fingerprint(request)}


def _answer(result: dict[str, Any], response: Response) -> dict[str, Any]:
    """202 for a new message, 200 for a duplicate; `status` in the hosted words (a held message
    is `pending_send_approval`, one on its way `queued`)."""
    response.status_code = 200 if result["duplicate"] else 202
    held = result["approval_status"] == "pending"
    status = "pending_send_approval" if held else result["status"]
    message = ("Held until a human approves it (GET /v1/oversight/pending); do not send it again." if held
               else "Accepted for delivery; do not send it again.")
    return {"id": result["message_id"], "status": status, "thread_id": result["thread_id"], "message": message,
            "idempotent": result["duplicate"]}


@router.post("/mailboxes/{mailbox_id}/send", operation_id="hosted_send_email", status_code=202,
             response_model=HostedSendAnswer, responses={**DUPLICATE, **errors(403, 404, 409, 501, body=True)})
def send_email(body: SendBody, ctx: CtxDep, who: PrincipalDep, response: Response, mailbox_id: str = MailboxId,
               idempotency_key: IdempotencyKeyHeader = None) -> dict:
    """Send a new message from the mailbox (send_email), under its oversight mode."""
    if body.send_at is not None or body.gate_timing == "schedule_first":
        field = "send_at" if body.send_at is not None else "gate_timing"
        raise NotServed("Scheduled send is not supported by this server yet; send without send_at.", details={"field": field})
    box = mailbox_svc.get_mailbox(ctx, principal=who, mailbox=mailbox_id)
    rendered = render_markdown(body.markdown)
    result = svc.send_email(ctx, principal=who, sender=box["address"], to=body.to, subject=body.subject,
                            body=rendered.text, html=rendered.html, cc=body.cc, bcc=body.bcc,
                            attachments=_attachments(body.attachments),
                            **_idempotency(body, idempotency_key))
    return _answer(result, response)


@router.post("/mailboxes/{mailbox_id}/reply/{email_id}", operation_id="hosted_reply_email", status_code=202,
             response_model=HostedSendAnswer, responses={**DUPLICATE, **errors(403, 404, 409, body=True)})
def reply_email(body: ReplyBody, ctx: CtxDep, who: PrincipalDep, response: Response, mailbox_id: str = MailboxId,
                email_id: str = EmailId, idempotency_key: IdempotencyKeyHeader = None) -> dict:
    """Reply in the message's thread (reply_email): to its sender, In-Reply-To and References set."""
    reading_svc.check_in_mailbox(ctx, principal=who, message_id=email_id, mailbox=mailbox_id)
    rendered = render_markdown(body.markdown)
    result = svc.reply_email(ctx, principal=who, message_id=email_id, body=rendered.text, html=rendered.html,
                             cc=body.cc, bcc=body.bcc, attachments=_attachments(body.attachments),
                             **_idempotency(body, idempotency_key))
    return _answer(result, response)
