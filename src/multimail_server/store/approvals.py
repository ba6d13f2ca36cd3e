"""Queries for approval policies: approval links, timeouts that are due, digests, outbound pauses.

Due timeouts and digests are taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL (as the outbox
is), so two servers' workers never apply the same timeout or queue the same digest; SQLite's
single writer serialises them anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from . import tables as t
from . import wakes


def insert_link(tx: Connection, row: dict[str, Any]) -> None:
    tx.execute(insert(t.approval_links).values(**row))


def link_by_nonce(tx: Connection, nonce: str) -> dict[str, Any] | None:
    row = tx.execute(select(t.approval_links).where(t.approval_links.c.id == nonce)).mappings().first()
    return dict(row) if row else None


def link_of_notice(tx: Connection, notice_id: str) -> dict[str, Any] | None:
    row = tx.execute(select(t.approval_links).where(t.approval_links.c.notification_id == notice_id)).mappings().first()
    return dict(row) if row else None


def claim_link(tx: Connection, nonce: str, now: datetime, outcome: str) -> bool:
    """Mark the link used, once: False when another request used it first."""
    c = t.approval_links.c
    return tx.execute(
        update(t.approval_links).where(c.id == nonce, c.used_at.is_(None)).values(used_at=now, outcome=outcome)
    ).rowcount == 1


def _locked(tx: Connection, q):
    return q.with_for_update(skip_locked=True) if tx.dialect.name == "postgresql" else q


def due_timeouts(tx: Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Held messages whose approval timeout has come, locked (skipping those another worker holds)."""
    m = t.messages.c
    q = (select(t.messages).where(m.approval_status == "pending", m.approval_due_at.is_not(None), m.approval_due_at <= now)
         .order_by(m.approval_due_at, m.seq).limit(limit))
    return [dict(r) for r in tx.execute(_locked(tx, q)).mappings()]


def any_timeout_due(tx: Connection, now: datetime) -> bool:
    """Whether a held message's timeout has come (a cheap read before the locking write)."""
    m = t.messages.c
    q = select(m.id).where(m.approval_status == "pending", m.approval_due_at.is_not(None), m.approval_due_at <= now).limit(1)
    return tx.execute(q).first() is not None


def digest_mailboxes(tx: Connection, *, lock: bool = True) -> list[dict[str, Any]]:
    """Monitored mailboxes with a digest; with `lock`, locked (skipping those another worker holds)."""
    c = t.mailboxes.c
    q = select(t.mailboxes).where(c.digest.is_not(None), c.oversight_mode == "monitored").order_by(c.id)
    return [dict(r) for r in tx.execute(_locked(tx, q) if lock else q).mappings()]


def sent_between(tx: Connection, mailbox_id: str, after: datetime | None, until: datetime) -> list[dict[str, Any]]:
    """Outbound mail of the mailbox that went out in (after, until], oldest first; system mail
    (approval notices, digests) is not counted."""
    m = t.messages.c
    q = select(t.messages).where(m.mailbox_id == mailbox_id, m.direction == "outbound", m.status == "sent",
                                 m.sent_at <= until, m.kind.in_(("message", "decision")))
    if after is not None:
        q = q.where(m.sent_at > after)
    return [dict(r) for r in tx.execute(q.order_by(m.sent_at, m.seq)).mappings()]


def pause(tx: Connection, scope: str, now: datetime, by: str, reason: str | None) -> bool:
    """False when that scope is paused already."""
    if tx.execute(select(t.outbound_pauses.c.scope).where(t.outbound_pauses.c.scope == scope)).first() is not None:
        return False
    tx.execute(insert(t.outbound_pauses).values(scope=scope, paused_at=now, paused_by=by, reason=reason))
    return True


def resume(tx: Connection, scope: str) -> bool:
    wakes.mark(tx, wakes.OUTBOX)  # the mailbox's queued mail may go now
    return tx.execute(delete(t.outbound_pauses).where(t.outbound_pauses.c.scope == scope)).rowcount == 1


def next_timeout_at(tx: Connection) -> datetime | None:
    """The earliest approval deadline of a held message (the approval worker sleeps until it)."""
    m = t.messages.c
    return tx.execute(select(func.min(m.approval_due_at)).where(m.approval_status == "pending")).scalar()


def pauses(tx: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in tx.execute(select(t.outbound_pauses).order_by(t.outbound_pauses.c.paused_at)).mappings()]


# Mail the server itself writes to approvers (notices, digests): the kill switch stops the agents'
# mail, never the humans' means to decide on it.
SYSTEM_KINDS = ("approval_request", "approval_digest")


def quiet_hours_of_mailboxes(tx: Connection) -> list[dict[str, Any]]:
    """(id, quiet_hours) of the mailboxes that have quiet hours."""
    c = t.mailboxes.c
    return [dict(r) for r in tx.execute(select(c.id, c.quiet_hours).where(c.quiet_hours.is_not(None))).mappings()]


def paused_filter(quiet_mailbox_ids: list[str] | None = None):
    """A condition on the outbox: its message's mailbox is not paused (nor is everything) nor in
    its quiet hours (`quiet_mailbox_ids`, worked out by the caller), or the message is system
    mail to approvers."""
    p = t.outbound_pauses.c
    m = t.messages.c
    held_back: Any = select(p.scope).where(or_(p.scope == "*", p.scope == m.mailbox_id)).exists()
    if quiet_mailbox_ids:
        held_back = or_(held_back, m.mailbox_id.in_(quiet_mailbox_ids))
    paused = select(m.id).where(m.id == t.outbox.c.message_id, m.kind.not_in(SYSTEM_KINDS), held_back).exists()
    return ~paused
