"""Mailboxes: create, list, update, delete."""

from fastapi import APIRouter

from ...client.types import Mailbox, MailboxDeleted, MailboxList
from ...core.errors import BadRequest
from ...services import mailboxes as svc
from ..deps import CtxDep, PrincipalDep
from ..errors import responses
from ..schemas import CreateMailbox, MailboxRef, UpdateMailbox

router = APIRouter(prefix="/v1", tags=["mailboxes"])


def _ref(body: MailboxRef) -> str:
    ref = body.ref()
    if not ref:
        raise BadRequest("Name the mailbox (mailbox, mailbox_id or address).", code="missing_field", details={"field": "mailbox"})
    return ref


@router.post("/create_mailbox", operation_id="create_mailbox", response_model=Mailbox, status_code=200, responses=responses(403, 409, 422, body=True))
def create_mailbox(body: CreateMailbox, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Create a hosted mailbox (admin). Default oversight `gated_send`; the floor defaults to the mode."""
    return svc.create_mailbox(ctx, principal=who, **body.model_dump())


@router.get("/list_mailboxes", operation_id="list_mailboxes", response_model=MailboxList, responses=responses())
def list_mailboxes(ctx: CtxDep, who: PrincipalDep) -> dict:
    """The mailboxes this key may act for."""
    return {"mailboxes": svc.list_mailboxes(ctx, principal=who)}


@router.post("/update_mailbox", operation_id="update_mailbox", response_model=Mailbox, responses=responses(403, 404, 422, body=True))
def update_mailbox(body: UpdateMailbox, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Change a mailbox's oversight mode, floor, display name or idempotency window (admin)."""
    fields = body.model_dump(exclude={"mailbox", "mailbox_id", "address"}, exclude_none=True)
    return svc.update_mailbox(ctx, principal=who, mailbox=_ref(body), **fields)


@router.post("/delete_mailbox", operation_id="delete_mailbox", response_model=MailboxDeleted, responses=responses(403, 404, body=True))
def delete_mailbox(body: MailboxRef, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Delete a mailbox and its mail (admin); the audit trail keeps its history."""
    return svc.delete_mailbox(ctx, principal=who, mailbox=_ref(body))
