"""Reading: check_inbox, read_email, get_thread, tag_email and attachment download."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from ..core import search_query
from ..core.access import Principal
from ..core.errors import BadRequest, Conflict, NotFound
from ..mail.redact import redact_message
from ..store import message_lists as list_q
from ..store import messages as message_q
from .approvals import pending_view
from .common import find_mailbox, find_message, find_thread, record
from .context import Context
from .retention import raw_purged_at, refuse_purged
from .views import REVIEW_KEYS, email_item, full_message, inbox_item, thread_item

MAX_LIMIT = 100
MAX_TAGS = 50
MAX_TAG_KEY = 200
MAX_TAG_VALUE = 2000
MAX_SEQ = 2**63 - 1  # sequence numbers are 64-bit integers in both databases


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor in (None, ""):
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("s") or not raw[1:].isdigit():
            raise ValueError
        seq = int(raw[1:])
        if not 0 < seq <= MAX_SEQ:
            raise ValueError
        return seq
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("cursor is not one this server handed out.", code="invalid_cursor", details={"field": "cursor"}) from None


def as_utc(value: datetime | None) -> datetime | None:
    """A time filter from a client: one without a zone is UTC (the API reference's times are all UTC)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise BadRequest("Times are ISO 8601 date-times.", code="invalid_field")
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is in year 10000 in UTC, which datetime cannot hold
        raise BadRequest(f"{value.isoformat()} is outside the years 1 to 9999 in UTC.", code="invalid_field") from None


def check_limit(limit: int | None, default: int = 50) -> int:
    if limit is None:
        return default
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_field", details={"field": "limit"})
    return limit


def check_inbox(
    ctx: Context,
    *,
    principal: Principal,
    mailbox: str,
    tag: str | None = None,
    exclude_tag: str | None = None,
    unread: bool | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    query: str | None = None,
    include_spam: bool = False,
) -> dict[str, Any]:
    """Inbound messages newest first. `query`: only those a search query matches (the language of
    core/search_query; 400 `invalid_query` when it is not valid syntax), from the same inbox, so a
    search never shows what the inbox would not. Spam (flagged or quarantined, services/spam.py)
    only with `include_spam` (list_spam lists it alone)."""
    limit = check_limit(limit)
    before = decode_cursor(cursor)
    since = as_utc(since)
    parsed = search_query.parse(query, field="query")
    with ctx.store.read() as tx:
        box = find_mailbox(tx, principal, mailbox)
        rows = message_q.inbox_page(
            tx, mailbox_id=box["id"], tag=tag, exclude_tag=exclude_tag, unread=unread, since=since,
            before_seq=before, limit=limit + 1, query=parsed, include_spam=include_spam is True,
        )
        page, more = rows[:limit], len(rows) > limit
        tags = message_q.tags_of(tx, [r["id"] for r in page])
    return {
        "messages": [inbox_item(r, tags[r["id"]]) for r in page],
        "next_cursor": encode_cursor(page[-1]["seq"]) if more else None,
    }


def read_email(ctx: Context, *, principal: Principal, message_id: str, mark_read: bool = True) -> dict[str, Any]:
    return read_email_and_row(ctx, principal=principal, message_id=message_id, mark_read=mark_read)[0]


def read_email_and_row(ctx: Context, *, principal: Principal, message_id: str, mark_read: bool = True,
                       in_mailbox: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """read_email's view and the stored row it was made from (for interfaces that show fields
    the view leaves out, such as who decided a held message and when). With `in_mailbox`, a
    message of another mailbox is a 404, as if unknown (the hosted API names both)."""
    with ctx.store.read() as tx:
        msg, mailbox = find_message(tx, principal, message_id)
        if in_mailbox is not None:
            same_mailbox(tx, principal, in_mailbox, mailbox, message_id)
    if mark_read and not msg["read"]:
        now = ctx.now()
        with ctx.store.write() as tx:
            if message_q.update_message(tx, message_id, {"read": True}, where={"read": False}):
                record(tx, at=now, principal=principal, action="message.read", mailbox=mailbox, message=msg)
        msg["read"] = True
    with ctx.store.read() as tx:
        tags = message_q.tags_of(tx, [message_id])[message_id]
        atts = message_q.attachments_of(tx, message_id)
        review = pending_view(tx, msg, mailbox) if msg["direction"] == "outbound" and msg["approval_status"] else None
    view = full_message(msg, tags, atts, mailbox, ctx.settings.base_url())
    if review is not None:  # a held (or decided) message shows what its approver sees
        view.update({k: review[k] for k in REVIEW_KEYS})
    return view, msg


def get_attachment(ctx: Context, *, principal: Principal, message_id: str, attachment_id: str) -> dict[str, Any]:
    with ctx.store.read() as tx:
        find_message(tx, principal, message_id)
        att = message_q.attachment(tx, attachment_id)
    if att is None or att["message_id"] != message_id:
        raise NotFound(f"No attachment {attachment_id!r} on this message.", code="attachment_not_found")
    refuse_purged("attachments", message_id=message_id, purged_at=att.get("purged_at"))
    return att


def get_thread(ctx: Context, *, principal: Principal, thread_id: str) -> dict[str, Any]:
    with ctx.store.read() as tx:
        thread, box = find_thread(tx, principal, thread_id)
        msgs = message_q.thread_messages(tx, thread_id)
    decision = next((m["decision"] for m in msgs if m["decision"]), None)
    return {
        "thread_id": thread_id,
        "mailbox": box["address"],
        "subject": thread["subject"],
        "decision": decision,
        "messages": [thread_item(m) for m in msgs],
    }


def _normalize_tags(tags: Any) -> dict[str, str]:
    if isinstance(tags, list):
        items = {}
        for i, key in enumerate(tags):
            if not isinstance(key, str):
                raise BadRequest("tags must be strings.", code="invalid_field", details={"field": f"tags[{i}]"})
            items[key] = ""
    elif isinstance(tags, dict):
        items = {}
        for key, value in tags.items():
            if value is None:
                value = ""
            if not isinstance(value, (str, int, float, bool)):
                raise BadRequest("tag values must be strings.", code="invalid_field", details={"field": f"tags.{key}"})
            items[key] = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    else:
        raise BadRequest("tags must be a list of names or an object of name: value.", code="invalid_field", details={"field": "tags"})
    if len(items) > MAX_TAGS:
        raise BadRequest(f"At most {MAX_TAGS} tags per call.", code="invalid_field", details={"field": "tags"})
    for key, value in items.items():
        if not key or len(key) > MAX_TAG_KEY or any(c in key for c in "\r\n\x00"):
            raise BadRequest(f"Tag names are 1-{MAX_TAG_KEY} characters without line breaks.", code="invalid_tag", details={"field": "tags", "tag": key})
        if len(value) > MAX_TAG_VALUE:
            raise BadRequest(f"Tag values are at most {MAX_TAG_VALUE} characters.", code="invalid_tag", details={"field": "tags", "tag": key})
    return items


def tag_email(ctx: Context, *, principal: Principal, message_id: str, tags: Any = None, remove: list[str] | None = None,
              replace: bool = False, in_mailbox: str | None = None) -> dict[str, Any]:
    """Set tags (key -> value; a list sets empty values) and remove others. Idempotent. With
    `replace`, every tag not in `tags` is removed in the same transaction (the hosted API's PUT)."""
    items = _normalize_tags(tags if tags is not None else [])
    remove = remove or []
    if not isinstance(remove, list) or not all(isinstance(k, str) for k in remove):
        raise BadRequest("remove must be a list of tag names.", code="invalid_field", details={"field": "remove"})
    if tags is None and not remove:
        raise BadRequest("Give tags to set or remove.", code="missing_field", details={"field": "tags"})
    now = ctx.now()
    with ctx.store.write() as tx:
        msg, mailbox = find_message(tx, principal, message_id)
        if in_mailbox is not None:
            same_mailbox(tx, principal, in_mailbox, mailbox, message_id)
        before = message_q.tags_of(tx, [message_id])[message_id]
        if replace:
            remove = sorted(set(remove) | (set(before) - set(items)))
        message_q.set_tags(tx, message_id, items, [k for k in remove if k not in items])
        after = message_q.tags_of(tx, [message_id])[message_id]
        if after != before:
            record(tx, at=now, principal=principal, action="message.tagged", mailbox=mailbox, message=msg,
                   details={"set": items, "removed": remove})
    return {"message_id": message_id, "tags": after}


def get_raw(ctx: Context, *, principal: Principal, message_id: str) -> bytes:
    """The RFC 5322 bytes of a message, scoped like read_email: as received (inbound), or as
    handed to the recipients' servers (outbound, once it was composed for delivery).

    Decision secrets are replaced (mail/redact.py) wherever they appear, decoded or not: the
    copy of a decide_email question that went out carries its recipients' one-click links and
    private reply address, and a human's reply may quote them; a key must never read either.
    Such bytes no longer match their DKIM signature, and nothing else is changed."""
    with ctx.store.read() as tx:
        msg, _ = find_message(tx, principal, message_id)
        raw = message_q.raw_of(tx, msg)
    refuse_purged("raw bytes", message_id=message_id, purged_at=raw_purged_at(msg))
    if raw is None:
        raise Conflict(f"Message {message_id} has not been composed yet (it is {msg['status']}): its bytes exist "
                       "once it goes out.", code="not_composed_yet", details={"message_id": message_id, "status": msg["status"]})
    return redact_message(raw)


# --- the hosted API's listing (api/routes/hosted) -----------------------------------------------


def same_mailbox(tx, principal: Principal, ref: str, mailbox: dict[str, Any], message_id: str) -> None:
    """404 unless the message belongs to the mailbox named `ref` (id or address): a route that
    names both must not reach another mailbox's message through its own mailbox's path."""
    box = find_mailbox(tx, principal, ref)
    if box["id"] != mailbox["id"]:
        raise NotFound(f"No message {message_id!r} in mailbox {ref!r}.", code="message_not_found",
                       details={"message_id": message_id})


def check_in_mailbox(ctx: Context, *, principal: Principal, message_id: str, mailbox: str) -> None:
    """404 unless the key may read the message and it belongs to `mailbox` (id or address)."""
    with ctx.store.read() as tx:
        _, box = find_message(tx, principal, message_id)
        same_mailbox(tx, principal, mailbox, box, message_id)


def get_tags(ctx: Context, *, principal: Principal, message_id: str, in_mailbox: str | None = None) -> dict[str, str]:
    with ctx.store.read() as tx:
        _, mailbox = find_message(tx, principal, message_id)
        if in_mailbox is not None:
            same_mailbox(tx, principal, in_mailbox, mailbox, message_id)
        return message_q.tags_of(tx, [message_id])[message_id]


def attachment_by_name(ctx: Context, *, principal: Principal, message_id: str, filename: str,
                       in_mailbox: str | None = None) -> dict[str, Any]:
    """A message's attachment by its file name (the hosted API names attachments so); the first
    one when two share a name."""
    with ctx.store.read() as tx:
        _, mailbox = find_message(tx, principal, message_id)
        if in_mailbox is not None:
            same_mailbox(tx, principal, in_mailbox, mailbox, message_id)
        match = next((a for a in message_q.attachments_of(tx, message_id) if a["filename"] == filename), None)
        att = message_q.attachment(tx, match["id"]) if match else None
    if att is None:
        raise NotFound(f"No attachment named {filename!r} on this message.", code="attachment_not_found",
                       details={"filename": filename})
    refuse_purged("attachments", message_id=message_id, purged_at=att.get("purged_at"))
    return att


def list_emails(
    ctx: Context,
    *,
    principal: Principal,
    mailbox: str,
    states: list[dict[str, Any]] | None = None,
    direction: str | None = None,
    sender: str | None = None,
    subject_contains: str | None = None,
    date_after: datetime | None = None,
    date_before: datetime | None = None,
    has_attachments: bool | None = None,
    since_id: str | None = None,
    thread_id: str | None = None,
    oldest_first: bool = False,
    offset: int = 0,
    limit: int | None = None,
    cursor: str | None = None,
    query: str | None = None,
    query_field: str = "query",
) -> dict[str, Any]:
    """A mailbox's mail in both directions (newest first, or oldest first), filtered, with a
    cursor stable under concurrent inserts. `states`: the message states to include (each a dict
    of direction / status list / read, every key given must match); `since_id`: only messages
    that arrived after that message of the mailbox (400 when it names none); `query`: a search
    query (core/search_query), its errors naming the parameter `query_field`."""
    limit = check_limit(limit, default=20)
    parsed = search_query.parse(query, field=query_field)
    past = decode_cursor(cursor)
    if direction not in (None, "inbound", "outbound"):
        raise BadRequest("direction must be inbound or outbound.", code="invalid_field", details={"field": "direction"})
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= 100_000:
        raise BadRequest("offset must be an integer from 0 to 100000.", code="invalid_field", details={"field": "offset"})
    with ctx.store.read() as tx:
        box = find_mailbox(tx, principal, mailbox)
        after_seq = None
        if since_id:
            after_seq = list_q.seq_of(tx, box["id"], since_id)
            if after_seq is None:
                raise BadRequest(f"since_id {since_id!r} names no message of this mailbox.", code="invalid_field",
                                 details={"field": "since_id"})
        rows = list_q.mailbox_page(
            tx, mailbox_id=box["id"], states=states, direction=direction, sender=sender, subject_contains=subject_contains,
            after=as_utc(date_after), before=as_utc(date_before), has_attachments=has_attachments, after_seq=after_seq,
            past_seq=past, thread_id=thread_id, oldest_first=oldest_first, offset=offset, limit=limit + 1,
            query=parsed,
        )
        page, more = rows[:limit], len(rows) > limit
        carrying = list_q.with_attachments(tx, [r["id"] for r in page])
    return {
        "mailbox_id": box["id"],
        "emails": [email_item(r, r["id"] in carrying) for r in page],
        "next_cursor": encode_cursor(page[-1]["seq"]) if more else None,
    }
