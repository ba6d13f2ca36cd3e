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
from ....services import scheduling as scheduling_svc
from ....services import sending as svc
from ...deps import CtxDep, IdempotencyKeyHeader, PrincipalDep
from ._bodies import HostedAttachment, ReplyBody, ScheduleBody, SendBody
from ._common import TAG, EmailId, MailboxId, errors

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


def _answer(result: dict[str, Any], response: Response | None) -> dict[str, Any]:
    """202 for a new message, 200 for a duplicate; `status` in the hosted words (a held message
    is `pending_send_approval`, one on its way `queued`, one waiting for its time `scheduled`)."""
    if response is not None:
        response.status_code = 200 if result["duplicate"] else 202
    held = result["approval_status"] == "pending"
    status = "pending_send_approval" if held else result["status"]
    if held:
        message = "Held until a human approves it (GET /v1/oversight/pending); do not send it again."
    elif status == "scheduled":
        message = f"Scheduled for {result['send_at']}; do not send it again (cancel or edit it until then)."
    else:
        message = "Accepted for delivery; do not send it again."
    answer = {"id": result["message_id"], "status": status, "thread_id": result["thread_id"], "message": message,
              "idempotent": result["duplicate"]}
    if result.get("send_at"):
        answer["send_at"] = result["send_at"]
    return answer


@router.post("/mailboxes/{mailbox_id}/send", operation_id="hosted_send_email", status_code=202,
             response_model=HostedSendAnswer, responses={**DUPLICATE, **errors(403, 404, 409, body=True)})
def send_email(body: SendBody, ctx: CtxDep, who: PrincipalDep, response: Response, mailbox_id: str = MailboxId,
               idempotency_key: IdempotencyKeyHeader = None) -> dict:
    """Send a new message from the mailbox (send_email), under its oversight mode; with `send_at`,
    at that time (`scheduled` until then)."""
    box = mailbox_svc.get_mailbox(ctx, principal=who, mailbox=mailbox_id)
    rendered = render_markdown(body.markdown)
    result = svc.send_email(ctx, principal=who, sender=box["address"], to=body.to, subject=body.subject,
                            body=rendered.text, html=rendered.html, cc=body.cc, bcc=body.bcc,
                            attachments=_attachments(body.attachments), send_at=body.send_at,
                            gate_timing=body.gate_timing, **_idempotency(body, idempotency_key))
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
                             send_at=body.send_at, gate_timing=body.gate_timing, **_idempotency(body, idempotency_key))
    return _answer(result, response)


@router.patch("/mailboxes/{mailbox_id}/emails/{email_id}/schedule", operation_id="hosted_edit_scheduled_email",
              response_model=HostedSendAnswer, responses=errors(400, 403, 404, 409, body=True))
def edit_schedule(body: ScheduleBody, ctx: CtxDep, who: PrincipalDep, mailbox_id: str = MailboxId,
                  email_id: str = EmailId) -> dict:
    """Change a scheduled message's time, recipients, subject or body before it leaves
    (edit_scheduled_email). An approved message goes back to its approvers; its recipients
    cannot change (409 recipients_locked)."""
    reading_svc.check_in_mailbox(ctx, principal=who, message_id=email_id, mailbox=mailbox_id)
    rendered = render_markdown(body.markdown) if body.markdown is not None else None
    result = scheduling_svc.edit_scheduled_email(
        ctx, principal=who, message_id=email_id, send_at=body.send_at, to=body.to, cc=body.cc, bcc=body.bcc,
        subject=body.subject, body=rendered.text if rendered else None, html=rendered.html if rendered else None)
    return _answer(result, None)
