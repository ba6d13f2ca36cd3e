"""Queries for claim_messages: leasing inbound messages to one caller, acknowledging and releasing
them; and the change marker the long-poll's cross-process fallback watches.

A message is claimable when it is inbound, not yet processed (acknowledged), and either never
claimed or its lease has run out. On PostgreSQL the candidates are locked with
`FOR UPDATE SKIP LOCKED`, so concurrent claimers each take different rows without waiting on one
another (and READ COMMITTED re-checks the lease condition on a row another claimer just
committed); on SQLite the write transaction (`BEGIN IMMEDIATE`) serialises claimers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, insert, not_, or_, select, update

from . import tables as t


def claimable_ids(
    tx: Connection, *, mailbox_id: str, now: datetime, limit: int, tag: str | None = None, exclude_tag: str | None = None,
    include_spam: bool = False,
) -> list[str]:
    """Oldest first, locked for this transaction (PostgreSQL: rows other claimers hold are skipped).
    Spam (flagged or quarantined) only with `include_spam`."""
    m = t.messages
    conds = [
        m.c.mailbox_id == mailbox_id,
        m.c.direction == "inbound",
        m.c.processed_at.is_(None),
        or_(m.c.claimed_until.is_(None), m.c.claimed_until <= now),
    ]
    if not include_spam:
        conds.append(m.c.spam_state.is_(None))
    if tag is not None:
        conds.append(exists().where(t.message_tags.c.message_id == m.c.id, t.message_tags.c.key == tag))
    if exclude_tag is not None:
        conds.append(not_(exists().where(t.message_tags.c.message_id == m.c.id, t.message_tags.c.key == exclude_tag)))
    q = select(m.c.id).where(and_(*conds)).order_by(m.c.seq).limit(limit)
    if tx.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True, of=m)
    return [r[0] for r in tx.execute(q)]


def lease(tx: Connection, message_ids: list[str], *, claim_id: str, until: datetime) -> None:
    if message_ids:
        tx.execute(update(t.messages).where(t.messages.c.id.in_(message_ids)).values(claim_id=claim_id, claimed_until=until))


def messages_by_ids(tx: Connection, message_ids: list[str]) -> list[dict[str, Any]]:
    if not message_ids:
        return []
    q = select(t.messages).where(t.messages.c.id.in_(message_ids)).order_by(t.messages.c.seq)
    return [dict(r) for r in tx.execute(q).mappings()]


def insert_claim(tx: Connection, row: dict[str, Any]) -> None:
    tx.execute(insert(t.message_claims).values(**row))


def claim_by_id(tx: Connection, claim_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    q = select(t.message_claims).where(t.message_claims.c.id == claim_id)
    if lock and tx.dialect.name == "postgresql":
        q = q.with_for_update()
    row = tx.execute(q).mappings().first()
    return dict(row) if row else None


def mark_processed(tx: Connection, message_ids: list[str], *, claim_id: str, at: datetime) -> list[str]:
    """Acknowledge the messages this claim still holds; the ids actually changed."""
    if not message_ids:
        return []
    m = t.messages
    cond = and_(m.c.id.in_(message_ids), m.c.claim_id == claim_id, m.c.processed_at.is_(None))
    # One conditional UPDATE (no read-then-write gap a re-claim at the lease's end could slip into).
    return [r[0] for r in tx.execute(update(m).where(cond).values(processed_at=at, claimed_until=None).returning(m.c.id))]


def unlease(tx: Connection, message_ids: list[str], *, claim_id: str) -> list[str]:
    """Give back the unprocessed messages this claim still holds; the ids actually released."""
    if not message_ids:
        return []
    m = t.messages
    cond = and_(m.c.id.in_(message_ids), m.c.claim_id == claim_id, m.c.processed_at.is_(None))
    return [r[0] for r in tx.execute(update(m).where(cond).values(claim_id=None, claimed_until=None).returning(m.c.id))]


def change_marker(tx: Connection) -> int | None:
    """A number that moves with every committed change of any process: the audit chain's event
    count (every change writes an audit event, and the head row is updated under a lock, so
    unlike a sequence's maximum it never misses a transaction that commits out of order)."""
    return tx.execute(select(t.audit_head.c.count).where(t.audit_head.c.id == 1)).scalar()
