"""Queries for the spam quarantine (services/spam.py): a page of it, and moving a message in or out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, select, update

from . import tables as t
from .messages import _inbox_columns


def spam_page(tx: Connection, *, mailbox_ids: list[str], states: list[str], before_seq: int | None,
              limit: int) -> list[dict[str, Any]]:
    """Quarantined and flagged inbound mail of these mailboxes, newest first (keyset on `seq`)."""
    if not mailbox_ids or not states:
        return []
    m = t.messages
    conds = [m.c.mailbox_id.in_(mailbox_ids), m.c.direction == "inbound", m.c.spam_state.in_(states)]
    if before_seq is not None:
        conds.append(m.c.seq < before_seq)
    columns = [*_inbox_columns(), m.c.mailbox_id, m.c.spam_state, m.c.spam_verdict, m.c.spam_label]
    q = select(*columns).where(and_(*conds)).order_by(m.c.seq.desc()).limit(limit)
    return [dict(r) for r in tx.execute(q).mappings()]


def set_state(tx: Connection, message_id: str, *, state: str | None, label: str, read: bool | None = None) -> None:
    values: dict[str, Any] = {"spam_state": state, "spam_label": label}
    if read is not None:
        values["read"] = read
    tx.execute(update(t.messages).where(t.messages.c.id == message_id).values(**values))
