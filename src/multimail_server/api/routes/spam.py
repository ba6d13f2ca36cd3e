"""list_spam, report_spam, not_spam: the spam quarantine (services/spam.py). Spam is left out of
check_inbox and claim_messages unless they are asked to include it."""

from typing import Literal

from fastapi import APIRouter, Query

from ...client.types import SpamMarked, SpamPage
from ...services import spam as svc
from ..deps import CtxDep, PrincipalDep
from ..errors import responses
from ..schemas import PageCursor, PageLimit, SpamRef

router = APIRouter(prefix="/v1", tags=["spam"])


@router.get("/list_spam", operation_id="list_spam", response_model=SpamPage, responses=responses(400, 403, 404))
def list_spam(
    ctx: CtxDep,
    who: PrincipalDep,
    mailbox: str | None = Query(None, description="Address or mailbox id; omitted: every mailbox the key may use."),
    state: Literal["flagged", "quarantined"] | None = Query(None, description="Only flagged or only quarantined mail; omitted: both."),
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> dict:
    """Received mail the spam verdict (or a report_spam) put in quarantine, newest first, each with
    its mailbox and verdict (`spam`: state, label, source, score, action, symbols)."""
    return svc.list_spam(ctx, principal=who, mailbox=mailbox, state=state, limit=limit, cursor=cursor)


@router.post("/report_spam", operation_id="report_spam", response_model=SpamMarked, responses=responses(403, 404, body=True))
def report_spam(body: SpamRef, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Move a received message into quarantine (`quarantined`, label `spam`). Any key that may read
    the mailbox; an approver's or admin's report also trains rspamd when it is configured."""
    return svc.report_spam(ctx, principal=who, message_id=body.message_id)


@router.post("/not_spam", operation_id="not_spam", response_model=SpamMarked, responses=responses(403, 404, body=True))
def not_spam(body: SpamRef, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Bring a message out of quarantine into the inbox, unread (label `not_spam`; subscribers get
    its `message.received` now). Any key that may read the mailbox; only approver and admin keys
    train rspamd (the filter is shared by every mailbox, so an agent's label never changes it)."""
    return svc.not_spam(ctx, principal=who, message_id=body.message_id)
