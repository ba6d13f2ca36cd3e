"""Queries for flow runs waiting on an approval or a decision (see tables.flow_run_waits).

`settle_for_event` runs inside the transaction that records the settling event, so the outcome
and the duty to resume the run commit together: an approval can never commit without its
resume being owed, and a crash after the commit leaves a `due` row the worker picks up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..core import flow_run_waits as rules
from ..core.ids import new_id
from . import leases, wakes
from .tables import flow_run_waits as w
from .tables import messages


def find(tx: Connection, *, flow_run_id: str, kind: str, target_id: str) -> dict[str, Any] | None:
    row = tx.execute(select(w).where(w.c.flow_run_id == flow_run_id, w.c.kind == kind, w.c.target_id == target_id)).mappings().first()
    return dict(row) if row else None


def by_id(tx: Connection, wait_id: str) -> dict[str, Any] | None:
    row = tx.execute(select(w).where(w.c.id == wait_id)).mappings().first()
    return dict(row) if row else None


def insert_wait(tx: Connection, *, flow_run_id: str, kind: str, target_id: str, mailbox_id: str, created_by: str | None,
                now: datetime, outcome: dict[str, Any] | None) -> dict[str, Any] | None:
    """A new wait: `waiting`, or `answered` when its outcome is already known (the registration
    answers with it, so the run does not pause and there is nothing to resume)."""
    row = {"id": new_id("frw"), "flow_run_id": flow_run_id, "kind": kind, "target_id": target_id, "mailbox_id": mailbox_id,
           "created_by": created_by, "created_at": now, "updated_at": now, "attempts": 0,
           "status": "answered" if outcome is not None else "waiting", "outcome": outcome,
           "finished_at": now if outcome is not None else None}
    try:
        with tx.begin_nested():  # a savepoint: a concurrent insert of the same wait is not an error
            tx.execute(insert(w).values(**row))
    except IntegrityError:
        return None
    return find(tx, flow_run_id=flow_run_id, kind=kind, target_id=target_id)


def count_for_target(tx: Connection, *, kind: str, target_id: str) -> int:
    return tx.execute(select(func.count()).select_from(w).where(w.c.kind == kind, w.c.target_id == target_id)).scalar_one()


def answer(tx: Connection, seq: int, *, outcome: dict[str, Any], now: datetime) -> None:
    """The run got the outcome in an answer of ours: nothing left to resume."""
    tx.execute(update(w).where(w.c.seq == seq, w.c.status.in_(("waiting", "due")))
               .values(status="answered", outcome=outcome, locked_until=None, updated_at=now, finished_at=now))


def waiting_since(tx: Connection, before: datetime, *, limit: int) -> list[dict[str, Any]]:
    q = select(w).where(w.c.status == "waiting", w.c.created_at <= before).order_by(w.c.seq).limit(limit)
    return [dict(r) for r in tx.execute(q).mappings()]


def mark_due(tx: Connection, *, kind: str, target_id: str, outcome: dict[str, Any], now: datetime) -> int:
    """Every `waiting` wait of this kind on this target becomes `due` with the outcome."""
    res = tx.execute(update(w).where(w.c.target_id == target_id, w.c.kind == kind, w.c.status == "waiting")
                     .values(status="due", outcome=outcome, next_attempt_at=now, updated_at=now),
                     execution_options={"preserve_rowcount": True})
    if res.rowcount:
        wakes.mark(tx, wakes.FLOW_RUNS)
    return res.rowcount


def settle_for_event(tx: Connection, *, type: str, message_id: str | None, data: dict[str, Any], now: datetime) -> int:
    """Mark every wait this event settles `due`, with its outcome; the number marked.

    The event's message is the held message (approval events) or the reply that decided
    (decision.received); a refused decide_email question settles its thread's decision waits."""
    if type not in rules.SETTLING_EVENTS or not message_id:
        return 0
    found = tx.execute(select(messages).where(messages.c.id == message_id)).mappings().first()
    if found is None:
        return 0
    row = dict(found)
    marked = 0
    if rules.settles(rules.APPROVAL, type):
        outcome = rules.approval_outcome(row)
        if outcome is not None:
            marked += mark_due(tx, kind=rules.APPROVAL, target_id=row["id"], outcome=outcome, now=now)
    if rules.settles(rules.DECISION, type):
        if type == rules.DECISION_EVENT:
            outcome = rules.decision_outcome(thread_id=row["thread_id"], question_message_id=str(data.get("question_message_id") or ""),
                                             reply=row)
        else:
            outcome = rules.refused_question_outcome(row) if row["kind"] == "decision" else None
        if outcome is not None:
            marked += mark_due(tx, kind=rules.DECISION, target_id=row["thread_id"], outcome=outcome, now=now)
    return marked


def claim_due(tx: Connection, now: datetime, *, lease_seconds: float, limit: int) -> list[dict[str, Any]]:
    return leases.claim_due(tx, w, w.c.status, "due", now, lease_seconds=lease_seconds, limit=limit)


def settle(tx: Connection, seq: int, *, status: str, now: datetime, error: str | None,
           next_attempt_at: datetime | None = None) -> None:
    values: dict[str, Any] = {"status": status, "locked_until": None, "last_error": error, "updated_at": now}
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    if status in ("resumed", "failed"):
        values["finished_at"] = now
    # only from `due`: a worker whose lease ran out must not undo another's `resumed`
    tx.execute(update(w).where(w.c.seq == seq, w.c.status == "due").values(**values))


def next_due_at(tx: Connection) -> datetime | None:
    return tx.execute(select(func.min(w.c.next_attempt_at)).where(w.c.status == "due")).scalar()

