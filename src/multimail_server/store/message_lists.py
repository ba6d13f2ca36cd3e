"""A mailbox's mail in both directions, filtered: the listing the hosted API's `GET
/v1/mailboxes/{id}/emails` and `…/threads/{id}` answer from (services/reading.list_emails).

Kept apart from messages.py's inbound-only inbox (check_inbox, claims): this one lists sent mail
too, and filters on what the hosted API filters on. Keyset-paginated on `seq`, like every list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, false, func, not_, or_, select

from ..core import search_query as sq
from . import search
from . import tables as t


def seq_of(tx: Connection, mailbox_id: str, message_id: str) -> int | None:
    """The position of a message of this mailbox (None when the mailbox has no such message)."""
    m = t.messages
    row = tx.execute(select(m.c.seq).where(m.c.id == message_id, m.c.mailbox_id == mailbox_id)).first()
    return row[0] if row else None


def _state(state: dict[str, Any]):
    """One accepted state: every key given must match (direction, status list, read)."""
    m = t.messages
    conds = []
    if state.get("direction") is not None:
        conds.append(m.c.direction == state["direction"])
    if state.get("status") is not None:
        conds.append(m.c.status.in_(state["status"]))
    if state.get("read") is not None:
        conds.append(m.c.read.is_(bool(state["read"])))
    return and_(*conds) if conds else m.c.id.is_not(None)


def mailbox_page(
    tx: Connection,
    *,
    mailbox_id: str,
    states: list[dict[str, Any]] | None,
    direction: str | None,
    sender: str | None,
    subject_contains: str | None,
    after: datetime | None,
    before: datetime | None,
    has_attachments: bool | None,
    after_seq: int | None,
    past_seq: int | None,
    thread_id: str | None,
    oldest_first: bool,
    offset: int,
    limit: int,
    query: sq.Node | None = None,
) -> list[dict[str, Any]]:
    """Messages of one mailbox matching every filter given. `states`: a message matches when it is
    in one of them (an empty list matches nothing); text filters are case-insensitive substrings;
    times compare the time received (inbound) or created (outbound); `query`: a search query
    (store/search), answered from the full-text index."""
    m, a = t.messages, t.attachments
    when = func.coalesce(m.c.received_at, m.c.created_at)
    conds: list[Any] = [m.c.mailbox_id == mailbox_id]
    if states is not None:
        conds.append(or_(*[_state(s) for s in states]) if states else false())
    if direction is not None:
        conds.append(m.c.direction == direction)
    if sender:
        conds.append(func.lower(m.c.from_addr).contains(sender.lower(), autoescape=True))
    if subject_contains:
        conds.append(func.lower(m.c.subject).contains(subject_contains.lower(), autoescape=True))
    if after is not None:
        conds.append(when > after)
    if before is not None:
        conds.append(when < before)
    if has_attachments is not None:
        carries = exists().where(a.c.message_id == m.c.id)
        conds.append(carries if has_attachments else not_(carries))
    if after_seq is not None:
        conds.append(m.c.seq > after_seq)
    if thread_id is not None:
        conds.append(m.c.thread_id == thread_id)
    q, seq = search.narrow(select(m).where(and_(*conds)), tx.dialect.name, query)
    if past_seq is not None:  # the cursor: what comes after it in the listing's order
        q = q.where(seq > past_seq if oldest_first else seq < past_seq)
    q = q.order_by(seq.asc() if oldest_first else seq.desc()).offset(offset).limit(limit)
    return [dict(r) for r in tx.execute(q).mappings()]


def with_attachments(tx: Connection, message_ids: list[str]) -> set[str]:
    """Which of these messages carry at least one attachment."""
    if not message_ids:
        return set()
    a = t.attachments
    return {r[0] for r in tx.execute(select(a.c.message_id).where(a.c.message_id.in_(message_ids)).distinct())}
