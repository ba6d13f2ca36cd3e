"""The outbox: messages waiting to be handed to a transport.

A row is claimed by setting a lease (`locked_until`); a worker that dies mid-delivery leaves the
lease to expire and another worker takes the row over. PostgreSQL claims with `FOR UPDATE SKIP
LOCKED` so several workers never block on or take the same row; SQLite serialises writers anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, or_, select, update

from . import leases, wakes
from .approvals import paused_filter
from .tables import outbox


def enqueue(tx: Connection, message_id: str, now: datetime, *, not_before: datetime | None = None) -> None:
    """`not_before`: a scheduled message's send_at; its first attempt is then due at that time,
    which is also when the worker wakes for it (`next_due_at`)."""
    first = not_before if not_before is not None and not_before > now else now
    tx.execute(insert(outbox), {"message_id": message_id, "state": "ready", "attempts": 0, "next_attempt_at": first,
                                "not_before": not_before, "created_at": now, "updated_at": now})
    wakes.mark(tx, wakes.OUTBOX)


def claim_due(tx: Connection, now: datetime, *, lease_seconds: int, limit: int,
              quiet_mailbox_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Due rows, oldest first, except those of paused mailboxes (the kill switch) and of
    mailboxes in their quiet hours: they wait in the outbox, in order, until released."""
    # A scheduled row is never claimed before its time, even if next_attempt_at were earlier.
    not_early = or_(outbox.c.not_before.is_(None), outbox.c.not_before <= now)
    return leases.claim_due(tx, outbox, outbox.c.state, "ready", now, lease_seconds=lease_seconds, limit=limit,
                            extra=and_(paused_filter(quiet_mailbox_ids), not_early))


def any_due(tx: Connection, now: datetime) -> bool:
    """Whether a row may be due, read without a lock (a superset of `claim_due`: paused mailboxes
    are not looked at), so a wake-up with nothing to deliver costs a read, not a write."""
    return leases.any_due(tx, outbox, outbox.c.state, "ready", now)


_FINISH = (update(outbox).where(outbox.c.seq == bindparam("b_seq"))
           .values(state=bindparam("b_state"), locked_until=None, last_error=bindparam("b_error"), updated_at=bindparam("b_now")))
_FINISH_WITH_RESULT = _FINISH.values(handoff_result=bindparam("b_progress"))


def finish(tx: Connection, seq: int, *, state: str, now: datetime, error: str | None = None,
           progress: str | None = None) -> None:
    """The row's final state; with `progress`, its hand-over record too, in the same statement.
    Statements built once: building an UPDATE per call was a measurable part of a delivery."""
    params = {"b_seq": seq, "b_state": state, "b_error": error, "b_now": now}
    if progress is None:
        tx.execute(_FINISH, params)
    else:
        tx.execute(_FINISH_WITH_RESULT, {**params, "b_progress": progress})


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


def unschedule(tx: Connection, message_id: str) -> bool:
    """Remove the row of a scheduled message no worker has started on (it is held for approval
    again, or falls due under schedule_first); False if a worker has started on it."""
    res = tx.execute(delete(outbox).where(outbox.c.message_id == message_id, outbox.c.state == "ready",
                                          outbox.c.attempts == 0))
    return res.rowcount == 1


def release(tx: Connection, seq: int) -> None:
    """Remove a claimed row whose message was held for approval when it fell due (an approval
    queues it again with a new row)."""
    tx.execute(delete(outbox).where(outbox.c.seq == seq))


def reschedule(tx: Connection, message_id: str, *, not_before: datetime, now: datetime) -> bool:
    """Move a scheduled row no worker has started on to a new time; False if one has."""
    res = tx.execute(
        update(outbox).where(outbox.c.message_id == message_id, outbox.c.state == "ready", outbox.c.attempts == 0)
        .values(not_before=not_before, next_attempt_at=max(not_before, now), updated_at=now)
    )
    wakes.mark(tx, wakes.OUTBOX)  # sooner than the worker's sleep, maybe
    return res.rowcount == 1


def next_due_at(tx: Connection) -> datetime | None:
    q = select(outbox.c.next_attempt_at).where(outbox.c.state == "ready").order_by(outbox.c.next_attempt_at).limit(1)
    return tx.execute(q).scalar()


_BY_SEQ = select(outbox).where(outbox.c.seq == bindparam("b_seq"))
_BY_SEQ_LOCKED = _BY_SEQ.with_for_update()


def by_seq(tx: Connection, seq: int, *, lock: bool = False) -> dict[str, Any] | None:
    q = _BY_SEQ_LOCKED if lock and tx.dialect.name == "postgresql" else _BY_SEQ
    row = tx.execute(q, {"b_seq": seq}).mappings().first()
    return dict(row) if row else None


_BY_SEQS = select(outbox).where(outbox.c.seq.in_(bindparam("b_seqs", expanding=True))).order_by(outbox.c.seq)
_BY_SEQS_LOCKED = _BY_SEQS.with_for_update()


def by_seqs(tx: Connection, seqs: list[int], *, lock: bool = False) -> dict[int, dict[str, Any]]:
    """Several rows by seq, in one statement (a worker's batch); `lock` locks them (PostgreSQL),
    in seq order."""
    if not seqs:
        return {}
    q = _BY_SEQS_LOCKED if lock and tx.dialect.name == "postgresql" else _BY_SEQS
    return {r["seq"]: dict(r) for r in tx.execute(q, {"b_seqs": list(seqs)}).mappings()}


def record_handoff(tx: Connection, seq: int, *, attempt: int, progress: str, now: datetime,
                   started: bool = False) -> bool:
    """Record the state of a hand-over to a non-transactional transport (JSON in
    `handoff_result`), only while the row is still this attempt's (compare-and-set on
    `attempts`, which every claim increments): False means another worker took the row over."""
    params = {"b_seq": seq, "b_attempt": attempt, "b_progress": progress, "b_now": now}
    res = tx.execute(_HANDOFF_STARTED if started else _HANDOFF, params)
    return res.rowcount == 1


_HANDOFF = (update(outbox).where(outbox.c.seq == bindparam("b_seq"), outbox.c.attempts == bindparam("b_attempt"),
                                 outbox.c.state == "ready")
            .values(handoff_result=bindparam("b_progress"), updated_at=bindparam("b_now")))
_HANDOFF_STARTED = _HANDOFF.values(handoff_started_at=bindparam("b_now"))


def set_handoff_result(tx: Connection, seq: int, *, progress: str, now: datetime) -> None:
    tx.execute(update(outbox).where(outbox.c.seq == seq).values(handoff_result=progress, updated_at=now))
