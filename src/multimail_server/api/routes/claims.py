"""claim_messages, ack_messages, release_messages: inbound mail processed exactly once by
concurrent workers (a lease per claim; see services/claims.py)."""

from fastapi import APIRouter

from ...client.types import AckResult, Claim, ReleaseResult
from ...services import claims as svc
from ..deps import CtxDep, PrincipalDep
from ..errors import responses
from ..schemas import ClaimMessages, ClaimRef

router = APIRouter(prefix="/v1", tags=["claims"])


@router.post("/claim_messages", operation_id="claim_messages", response_model=Claim, responses=responses(403, 404, body=True))
def claim_messages(body: ClaimMessages, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Lease up to `limit` unprocessed inbound messages of a mailbox (oldest first) to this caller
    for `lease_seconds`: concurrent callers never get the same message. Answers
    `{"claim_id", "mailbox", "messages": [check_inbox items], "lease_expires_at"}`; with nothing
    to claim, `messages` is empty and `claim_id` null. Acknowledge processed messages with
    ack_messages before the lease ends; unacknowledged ones become claimable again after it."""
    return svc.claim_messages(ctx, principal=who, **body.model_dump())


@router.post("/ack_messages", operation_id="ack_messages", response_model=AckResult, responses=responses(403, 404, 409, body=True))
def ack_messages(body: ClaimRef, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Mark a claim's messages (all, or `message_ids`) processed: they are never claimed again.
    Only the key that claimed them, while the lease holds: 409 `lease_expired` afterwards (another
    caller may have claimed them since). Acknowledging twice is harmless."""
    return svc.ack_messages(ctx, principal=who, claim_id=body.claim_id, message_ids=body.message_ids)


@router.post("/release_messages", operation_id="release_messages", response_model=ReleaseResult, responses=responses(403, 404, body=True))
def release_messages(body: ClaimRef, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Give a claim's unacknowledged messages (all, or `message_ids`) back before the lease ends,
    so they can be claimed again at once. Idempotent; `released` lists what this call gave back."""
    return svc.release_messages(ctx, principal=who, claim_id=body.claim_id, message_ids=body.message_ids)
