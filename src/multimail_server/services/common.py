"""Lookups and records every service shares: scoped mailbox and message lookups (404 outside the
key's scope, so another tenant's ids are indistinguishable from unknown ones), and the audit +
event write that accompanies every change in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..core.access import Principal
from ..core.addresses import parse_address
from ..core.errors import BadRequest, NotFound
from ..store import mailboxes as mailbox_q
from ..store import messages as message_q
from ..store import records


def find_mailbox(tx: Connection, principal: Principal, ref: str, field: str = "mailbox") -> dict[str, Any]:
    """A mailbox by id (`mbx_…`) or address, visible to the principal."""
    if not isinstance(ref, str) or not ref.strip():
        raise BadRequest(f"{field} is required.", code="missing_field", details={"field": field})
    if ref.startswith("mbx_"):
        row = mailbox_q.by_id(tx, ref)
    else:
        row = mailbox_q.by_address(tx, parse_address(ref, field).normalized)
    if row is None or not principal.sees_mailbox(row["address"]):
        # One answer whether it does not exist or is outside the key's scope (no enumeration),
        # worded so that a key scoped too narrowly is not mistaken for a missing mailbox.
        raise NotFound(f"No mailbox {ref!r} that this key may use.", code="mailbox_not_found", details={field: ref})
    return row


def find_message(tx: Connection, principal: Principal, message_id: str, *, lock: bool = False) -> tuple[dict, dict]:
    if not isinstance(message_id, str) or not message_id:
        raise BadRequest("message_id is required.", code="missing_field", details={"field": "message_id"})
    msg = message_q.by_id(tx, message_id, lock=lock)
    mailbox = mailbox_q.by_id(tx, msg["mailbox_id"]) if msg else None
    if msg is None or mailbox is None or not principal.sees_mailbox(mailbox["address"]):
        raise NotFound(f"No message {message_id!r} that this key may read.", code="message_not_found",
                       details={"message_id": message_id})
    return msg, mailbox


def find_thread(tx: Connection, principal: Principal, thread_id: Any) -> tuple[dict, dict]:
    """A thread and its mailbox, visible to the principal (404 otherwise, as for messages)."""
    if not isinstance(thread_id, str) or not thread_id:
        raise BadRequest("thread_id is required.", code="missing_field", details={"field": "thread_id"})
    thread = message_q.thread_by_id(tx, thread_id)
    mailbox = mailbox_q.by_id(tx, thread["mailbox_id"]) if thread else None
    if thread is None or mailbox is None or not principal.sees_mailbox(mailbox["address"]):
        raise NotFound(f"No thread {thread_id!r} that this key may read.", code="thread_not_found",
                       details={"thread_id": thread_id})
    return thread, mailbox


def scoped_mailbox_ids(tx: Connection, principal: Principal) -> list[str] | None:
    if principal.mailboxes is None:
        return None
    return [m["id"] for m in mailbox_q.list_all(tx, principal.mailboxes)]


def record(
    tx: Connection,
    *,
    at: datetime,
    principal: Principal | None,
    action: str,
    mailbox: dict[str, Any] | None = None,
    message: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    event: str | None = None,
    event_data: dict[str, Any] | None = None,
) -> None:
    """Write the audit event for a change and, when it is a state change clients subscribe to,
    the event row the webhook worker delivers. Always inside the change's own transaction."""
    records.insert_audit(
        tx,
        {
            "at": at,
            "actor_key_id": principal.label if principal else "system",
            "actor_role": principal.role.value if principal else "system",
            "mailbox_id": mailbox["id"] if mailbox else None,
            "mailbox_address": mailbox["address"] if mailbox else None,
            "action": action,
            "message_id": message["id"] if message else None,
            "oversight_mode": (message or {}).get("oversight_mode") or (mailbox or {}).get("oversight_mode"),
            "approval_status": (message or {}).get("approval_status"),
            "details": details or {},
        },
    )
    if event:
        records.insert_event(
            tx,
            type=event,
            at=at,
            mailbox_id=mailbox["id"] if mailbox else None,
            message_id=message["id"] if message else None,
            # every event about a mailbox names it, so a receiver (or Prefect) can route on it
            data={"mailbox": mailbox["address"], **(event_data or {})} if mailbox else (event_data or {}),
        )


def all_recipients(msg: dict[str, Any]) -> list[str]:
    """A message's To, Cc and Bcc addresses as stored, in that order (not normalised)."""
    return [*msg["to_addrs"], *msg["cc_addrs"], *msg["bcc_addrs"]]


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


# The suppression list and the address book page by their rows' seq, oldest first, with the seq
# itself as the cursor (digits: nothing secret in it, and a list of contacts has no hidden rows).
SEQ_PAGE_DEFAULT = 50
SEQ_PAGE_MAX = 100


def seq_page_limit(limit: Any) -> int:
    limit = SEQ_PAGE_DEFAULT if limit is None else limit
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= SEQ_PAGE_MAX:
        raise BadRequest(f"limit must be 1 to {SEQ_PAGE_MAX}.", code="invalid_field", details={"field": "limit"})
    return limit


def seq_cursor(value: Any) -> int | None:
    """The seq a page starts after (None: the first page)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not value.isdigit() or len(value) > 18:
        raise BadRequest("cursor is not one this server gave out.", code="invalid_cursor", details={"field": "cursor"})
    return int(value)
