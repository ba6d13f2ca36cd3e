"""check_inbox, read_email, get_raw, get_thread, tag_email, get_attachment."""

from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ...client.types import InboxPage, Message, TagResult, Thread
from ...services import reading as svc
from ...services import waiting
from ..deps import CtxDep, PrincipalDep
from ..errors import responses
from ..schemas import SEARCH_DESCRIPTION, PageCursor, PageLimit, TagEmail

router = APIRouter(prefix="/v1", tags=["reading"])


@router.get("/check_inbox", operation_id="check_inbox", response_model=InboxPage, responses=responses(403, 404))
def check_inbox(
    ctx: CtxDep,
    who: PrincipalDep,
    mailbox: str = Query(..., description="Address or mailbox id."),
    tag: str | None = Query(None, description="Only messages that have this tag key."),
    exclude_tag: str | None = Query(None, description="Only messages that do not have this tag key."),
    unread: bool | None = Query(None, description="true: only unread messages; false: only read ones; omitted: both."),
    since: datetime | None = Query(None, description="Only messages received at or after this time (ISO 8601)."),
    limit: PageLimit = None,
    cursor: PageCursor = None,
    query: str | None = Query(None, description=SEARCH_DESCRIPTION),
) -> dict:
    """Inbound messages, newest first, with a cursor that is stable under concurrent inserts.
    With `query`, only those the search query matches (400 `invalid_query` when it is not valid
    syntax, with the `position` and what was `expected` there)."""
    return svc.check_inbox(ctx, principal=who, mailbox=mailbox, tag=tag, exclude_tag=exclude_tag, unread=unread,
                           since=since, limit=limit, cursor=cursor, query=query)


@router.get("/read_email", operation_id="read_email", response_model=Message, responses=responses(404))
def read_email(ctx: CtxDep, who: PrincipalDep, message_id: str = Query(..., description="The message's id (msg_...).")) -> dict:
    """The full message; marks it read."""
    return svc.read_email(ctx, principal=who, message_id=message_id)


@router.get("/get_thread", operation_id="get_thread", response_model=Thread, responses=responses(400, 404))
async def get_thread(
    ctx: CtxDep,
    who: PrincipalDep,
    thread_id: str = Query(..., description="The thread's id, as a message view names it."),
    wait: float = Query(0, ge=0, le=60, description="Long-poll: hold the answer up to this many seconds until the "
                        "thread has news (see below). 0 (the default) answers at once."),
    after_message_id: str | None = Query(None, description="With `wait`: news is a message after this one "
                                         "(the last one the caller has seen)."),
    min_messages: int | None = Query(None, ge=1, le=100000, description="With `wait`: news is the thread holding at "
                                     "least this many messages."),
) -> dict:
    """Every message of a thread, oldest first, with decisions on replies to decide_email.

    With `wait`, the answer is held until the thread has news, or `wait` seconds pass (then the
    thread as it is). News is a message after `after_message_id`, or at least `min_messages`
    messages; with neither, a decision (`decision` set: at once if there already is one) or any
    message newer than those present when the request arrived. A decision arriving by SMTP reply
    or one-click link wakes the waiter at once. Set the client's read timeout above `wait`.
    """
    return await waiting.wait_for_thread(ctx, principal=who, thread_id=thread_id, wait=wait,
                                         after_message_id=after_message_id, min_messages=min_messages)


@router.post("/tag_email", operation_id="tag_email", response_model=TagResult, responses=responses(404, body=True))
def tag_email(body: TagEmail, ctx: CtxDep, who: PrincipalDep) -> dict:
    """Set tags (a list sets empty values; an object sets key: value) and remove others."""
    return svc.tag_email(ctx, principal=who, message_id=body.message_id, tags=body.tags, remove=body.remove)


@router.get("/get_attachment", operation_id="get_attachment",
            responses={**responses(404), 200: {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}},
            response_class=Response, response_description="The attachment's bytes.")
def get_attachment(
    ctx: CtxDep,
    who: PrincipalDep,
    message_id: str = Query(..., description="The message that carries the attachment."),
    attachment_id: str = Query(..., description="The attachment's id, from the message view's `attachments`."),
) -> Response:
    """Download one attachment of a message."""
    att = svc.get_attachment(ctx, principal=who, message_id=message_id, attachment_id=attachment_id)
    disposition = "attachment; filename*=UTF-8''" + quote(att["filename"])
    # Always a download, never rendered: received attachments come from strangers.
    return Response(att["content"], media_type=att["content_type"],
                    headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"})


@router.get("/get_raw", operation_id="get_raw", response_class=Response,
            responses={**responses(404, 409), 200: {"content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}}}},
            response_description="The message's RFC 5322 bytes (message/rfc822).")
def get_raw(ctx: CtxDep, who: PrincipalDep, message_id: str = Query(..., description="The message's id (msg_...).")) -> Response:
    """The exact bytes of a message: as received, or as handed over for delivery (409
    `not_composed_yet` before that). Decision links and private reply addresses are replaced."""
    raw = svc.get_raw(ctx, principal=who, message_id=message_id)
    return Response(raw, media_type="message/rfc822",
                    headers={"Content-Disposition": f'attachment; filename="{message_id}.eml"', "X-Content-Type-Options": "nosniff"})
