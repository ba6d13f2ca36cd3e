"""The outbox: messages waiting to be handed to a transport.

A row is claimed by setting a lease (`locked_until`); a worker that dies mid-delivery leaves the
lease to expire and another worker takes the row over. PostgreSQL claims with `FOR UPDATE SKIP
LOCKED` so several workers never block on or take the same row; SQLite serialises writers anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from .tables import outbox


def enqueue(tx: Connection, message_id: str, now: datetime) -> None:
    tx.execute(
        insert(outbox).values(
            message_id=message_id, state="ready", attempts=0, next_attempt_at=now, created_at=now, updated_at=now
        )
    )


def claim_due(tx: Connection, now: datetime, *, lease_seconds: int, limit: int) -> list[dict[str, Any]]:
    due = and_(
        outbox.c.state == "ready",
        outbox.c.next_attempt_at <= now,
        or_(outbox.c.locked_until.is_(None), outbox.c.locked_until <= now),
    )
    q = select(outbox).where(due).order_by(outbox.c.next_attempt_at, outbox.c.seq).limit(limit)
    if tx.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    rows = [dict(r) for r in tx.execute(q).mappings()]
    lease = now + timedelta(seconds=lease_seconds)
    for row in rows:
        tx.execute(
            update(outbox)
            .where(outbox.c.seq == row["seq"])
            .values(locked_until=lease, attempts=outbox.c.attempts + 1, updated_at=now)
        )
        row["attempts"] += 1
    return rows


def finish(tx: Connection, seq: int, *, state: str, now: datetime, error: str | None = None) -> None:
    tx.execute(
        update(outbox).where(outbox.c.seq == seq).values(state=state, locked_until=None, last_error=error, updated_at=now)
    )


def retry_later(tx: Connection, seq: int, *, at: datetime, now: datetime, error: str) -> None:
    tx.execute(
        update(outbox)
        .where(outbox.c.seq == seq)
        .values(next_attempt_at=at, locked_until=None, last_error=error, updated_at=now)
    )


def withdraw(tx: Connection, message_id: str, now: datetime) -> bool:
    """Cancel a row no worker has started on; False if one has (then the mail may be on its way)."""
    res = tx.execute(
        update(outbox)
        .where(outbox.c.message_id == message_id, outbox.c.state == "ready", outbox.c.attempts == 0)
        .values(state="cancelled", updated_at=now)
    )
    return res.rowcount == 1


def next_due_at(tx: Connection) -> datetime | None:
    q = select(outbox.c.next_attempt_at).where(outbox.c.state == "ready").order_by(outbox.c.next_attempt_at).limit(1)
    return tx.execute(q).scalar()
