"""send_email, reply_email, decide_email, forward_email and edit_scheduled_email: idempotent,
under the mailbox's oversight."""

from fastapi import APIRouter

from ...client.types import SendAnswer
from ...core import idempotency as idem
from ...services import forwarding as forward_svc
from ...services import scheduling as scheduling_svc
from ...services import sending as svc
from ..deps import CtxDep, IdempotencyKeyHeader, PrincipalDep
from ..errors import responses
from ..schemas import DecideEmail, EditScheduledEmail, ForwardEmail, ReplyEmail, SendEmail

router = APIRouter(prefix="/v1", tags=["sending"])
ERRORS = responses(403, 404, 409, body=True)


def _common(body, header_key: str | None) -> dict:
    key = idem.resolve_key(header_key, body.idempotency_key)
    request = body.model_dump(by_alias=True, exclude={"idempotency_key"}, exclude_unset=True, mode="json")
    return {"idempotency_key": key, "request_fingerprint": idem.request_fingerprint(request)}


def _attachments(body) -> list[dict] | None:
    return [a.model_dump() for a in body.attachments] if body.attachments is not None else None


@router.post("/send_email", operation_id="send_email", response_model=SendAnswer, responses=ERRORS)
def send_email(body: SendEmail, ctx: CtxDep, who: PrincipalDep, idempotency_key: IdempotencyKeyHeader = None) -> dict:
    """Send a new message. Held as `pending` when the mailbox's oversight requires approval."""
    return svc.send_email(
        ctx, principal=who, sender=body.from_, to=body.to, subject=body.subject, body=body.body, html=body.html,
        cc=body.cc, bcc=body.bcc, reply_to=body.reply_to, attachments=_attachments(body),
        oversight_mode=body.oversight_mode, metadata=body.metadata, approval_timeout=body.approval_timeout,
        on_timeout=body.on_timeout, send_at=body.send_at, gate_timing=body.gate_timing, **_common(body, idempotency_key),
    )


@router.post("/reply_email", operation_id="reply_email", response_model=SendAnswer, responses=ERRORS)
def reply_email(body: ReplyEmail, ctx: CtxDep, who: PrincipalDep, idempotency_key: IdempotencyKeyHeader = None) -> dict:
    """Reply in the message's thread (In-Reply-To, References, `Re:` subject)."""
    return svc.reply_email(
        ctx, principal=who, message_id=body.message_id, body=body.body, html=body.html, reply_all=body.reply_all,
        cc=body.cc, bcc=body.bcc, attachments=_attachments(body), oversight_mode=body.oversight_mode,
        metadata=body.metadata, approval_timeout=body.approval_timeout, on_timeout=body.on_timeout,
        send_at=body.send_at, gate_timing=body.gate_timing, **_common(body, idempotency_key),
    )


@router.post("/decide_email", operation_id="decide_email", response_model=SendAnswer, responses=ERRORS)
def decide_email(body: DecideEmail, ctx: CtxDep, who: PrincipalDep, idempotency_key: IdempotencyKeyHeader = None) -> dict:
    """Ask a human a question with options; their reply shows up in get_thread with `decision`."""
    return svc.decide_email(
        ctx, principal=who, sender=body.from_, to=body.to, question=body.question, options=body.options,
        subject=body.subject, context=body.context, cc=body.cc, oversight_mode=body.oversight_mode,
        metadata=body.metadata, **_common(body, idempotency_key),
    )


@router.post("/forward_email", operation_id="forward_email", response_model=SendAnswer, responses=ERRORS)
def forward_email(body: ForwardEmail, ctx: CtxDep, who: PrincipalDep, idempotency_key: IdempotencyKeyHeader = None) -> dict:
    """Forward a stored message, with its attachments, to new recipients: a new conversation, under
    the mailbox's oversight as a send."""
    return forward_svc.forward_email(
        ctx, principal=who, message_id=body.message_id, to=body.to, cc=body.cc, bcc=body.bcc, note=body.note,
        oversight_mode=body.oversight_mode, metadata=body.metadata, **_common(body, idempotency_key),
    )


@router.post("/edit_scheduled_email", operation_id="edit_scheduled_email", response_model=SendAnswer, responses=ERRORS)
def edit_scheduled_email(body: EditScheduledEmail, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Change a scheduled message before it leaves: its send_at, recipients, subject or body. An
    approved one goes back to its approvers; its recipients cannot change (409 recipients_locked)."""
    return scheduling_svc.edit_scheduled_email(
        ctx, principal=who, message_id=body.message_id, send_at=body.send_at, to=body.to, cc=body.cc, bcc=body.bcc,
        subject=body.subject, body=body.body, html=body.html,
    )
