"""Claiming queued work with a lease: the one mechanism behind the outbox and webhook deliveries.

A row is due when it is in its waiting state, its next attempt time has come and no live lease
holds it. Claiming sets a lease and counts the attempt; a worker that dies leaves the lease to
expire and the row is claimed again. PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so workers
in several processes never take the same row nor wait on each other; SQLite's single writer
already serialises claims.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Connection, Table, and_, or_, select, update


def claim_due(tx: Connection, table: Table, state_column: Column, waiting_state: str, now: datetime, *,
              lease_seconds: float, limit: int, extra: Any = None) -> list[dict[str, Any]]:
    """`extra`: a further condition a due row must meet (the outbox: its mailbox is not paused)."""
    c = table.c
    due = and_(state_column == waiting_state, c.next_attempt_at <= now,
               or_(c.locked_until.is_(None), c.locked_until <= now))
    if extra is not None:
        due = and_(due, extra)
    q = select(table).where(due).order_by(c.next_attempt_at, c.seq).limit(limit)
    if tx.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    rows = [dict(r) for r in tx.execute(q).mappings()]
    if not rows:
        return rows
    # One UPDATE for the whole batch (it was one per row): the rows are locked (PostgreSQL) or
    # the writer is alone (SQLite), so each row's attempts is the value just read, plus one.
    lease = now + timedelta(seconds=lease_seconds)
    tx.execute(update(table).where(c.seq.in_([row["seq"] for row in rows]))
               .values(locked_until=lease, attempts=c.attempts + 1, updated_at=now))
    for row in rows:
        row["attempts"] += 1
    return rows


def any_due(tx: Connection, table: Table, state_column: Column, waiting_state: str, now: datetime, *,
            extra: Any = None) -> bool:
    """Whether `claim_due` would find a row, read without any lock. Workers ask this before they
    open a write transaction to claim: most wake-ups are other work's commits, and on SQLite an
    empty claim still took the one write lock every sender and receiver queues on."""
    c = table.c
    due = and_(state_column == waiting_state, c.next_attempt_at <= now,
               or_(c.locked_until.is_(None), c.locked_until <= now))
    if extra is not None:
        due = and_(due, extra)
    return tx.execute(select(c.seq).where(due).limit(1)).first() is not None
