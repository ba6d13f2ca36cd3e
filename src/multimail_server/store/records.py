"""Audit events and state-change events, written inside the caller's transaction."""

from __future__ import annotations

import contextlib
import functools
import json
import weakref
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, or_, select, text, update

from ..core.audit_chain import GENESIS, canonical_details, event_hash
from ..core.ids import new_id
from . import flow_run_waits, wakes
from .tables import audit_events, audit_head, events, webhook_deliveries, webhooks

_AUDIT_CHAIN_LOCK = 0x6D6D6175  # "mmau": the first appender of a database (PostgreSQL)


# Built once: the head moves on every audited change, and a statement with its values bound as
# parameters is compiled once and found in SQLAlchemy's cache after that.
_HEAD = select(audit_head).where(audit_head.c.id == 1)
_APPEND = insert(audit_events)
_INSERT_EVENT = insert(events)
_ENABLED_WEBHOOKS = select(webhooks).where(webhooks.c.enabled.is_(True))
_INSERT_DELIVERY = insert(webhook_deliveries)


def _next_seq(dialect: str):
    """The appended event's seq, as a plain insert would have drawn it: PostgreSQL's sequence for
    the column (so the sequence stays in step), on SQLite the largest seq plus one (its rowid
    rule; a look at the primary key's last entry), which also steps past a row someone wrote
    behind the head's back (`audit verify` reports that row; appends go on)."""
    if dialect == "postgresql":
        return func.nextval(func.pg_get_serial_sequence("audit_events", "seq"))
    return select(func.coalesce(func.max(audit_events.c.seq), 0) + 1).scalar_subquery()


@functools.cache
def _advance(dialect: str, *, compare: bool):
    """Move the head to the new event and return the event's seq. With `compare`, only if the
    head is still at `prev_hash` (the hash this process last saw): the UPDATE is then both the
    check and, on PostgreSQL, the lock that makes appenders take turns (its row lock is held to
    the commit, and a waiting appender's condition is re-read after it, so it finds the head
    moved and reads it again)."""
    q = update(audit_head).where(audit_head.c.id == 1)
    if compare:
        q = q.where(audit_head.c.hash == bindparam("prev_hash"))
    return (q.values(seq=_next_seq(dialect), hash=bindparam("new_hash"), count=audit_head.c.count + 1)
            .returning(audit_head.c.seq))


# The head's hash as this process last wrote or read it, per engine: a guess that saves reading
# the head on each append, checked by the append itself (`_advance(compare=True)`), so a stale
# guess (another process appended, or the transaction that wrote it rolled back) costs one read.
_last_head: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def insert_audit(tx: Connection, row: dict[str, Any]) -> str:
    """Append an audit event to the hash chain: two statements when this process's guess of the
    head is right (move the head, insert the event), one read more when it is not.

    The chain needs one appender at a time, in seq order: on SQLite the write transaction already
    is the only writer; on PostgreSQL the head row's lock, taken by the UPDATE that also draws the
    event's seq, so seq order is chain order. (It was an advisory lock, a read of the head, the
    insert and the update: four round trips on every audited write.)"""
    row = {"id": new_id("aud"), **row, "details": canonical_details(row.get("details"))}
    engine, dialect = tx.engine, tx.dialect.name
    guess = _last_head.get(engine)
    seq = None
    if guess is not None:
        row["prev_hash"] = guess
        row["hash"] = event_hash(guess, row)
        seq = tx.execute(_advance(dialect, compare=True), {"prev_hash": guess, "new_hash": row["hash"]}).scalar()
    if seq is None:
        head = tx.execute(_HEAD.with_for_update() if dialect == "postgresql" else _HEAD).mappings().first()
        if head is None and dialect == "postgresql":
            # the chain's first event: two first appenders must not both create the head
            tx.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_CHAIN_LOCK})
            head = tx.execute(_HEAD.with_for_update()).mappings().first()
        prev = head["hash"] if head else GENESIS
        row["prev_hash"] = prev
        row["hash"] = event_hash(prev, row)
        if head is not None:
            seq = tx.execute(_advance(dialect, compare=False), {"new_hash": row["hash"]}).scalar_one()
    if seq is None:  # no head yet: the event takes its seq as any insert would, then the head is made
        seq = tx.execute(_APPEND.returning(audit_events.c.seq), row).scalar_one()
        tx.execute(insert(audit_head).values(id=1, seq=seq, hash=row["hash"], count=1))
    else:
        tx.execute(_APPEND, {**row, "seq": seq})
    _last_head[engine] = row["hash"]
    return row["id"]


def chain_rows(tx: Connection, *, upto_seq: int | None = None, batch: int = 1000):
    """Audit events in chain order, streamed in batches (for `audit verify` and export);
    `upto_seq` stops at a head read earlier, so events appended meanwhile are left out."""
    after = 0
    while True:
        q = select(audit_events).where(audit_events.c.seq > after)
        if upto_seq is not None:
            q = q.where(audit_events.c.seq <= upto_seq)
        rows = [dict(r) for r in tx.execute(q.order_by(audit_events.c.seq).limit(batch)).mappings()]
        if not rows:
            return
        yield from rows
        after = rows[-1]["seq"]


def first_beyond_head(tx: Connection) -> dict[str, Any] | None:
    """The first event past the recorded head, in one statement (one snapshot): legitimate
    appends move the head in the same transaction, so such an event was written around it."""
    head_seq = select(audit_head.c.seq).where(audit_head.c.id == 1).scalar_subquery()
    q = select(audit_events).where(audit_events.c.seq > func.coalesce(head_seq, 0)).order_by(audit_events.c.seq).limit(1)
    row = tx.execute(q).mappings().first()
    return dict(row) if row else None


def chain_head(tx: Connection) -> dict[str, Any] | None:
    row = tx.execute(select(audit_head).where(audit_head.c.id == 1)).mappings().first()
    return dict(row) if row else None


def envelope(*, event_id: str, type: str, at: datetime, data: dict) -> str:
    """The one payload shape of every webhook: {"id", "type", "created_at", "data"}."""
    body = {"id": event_id, "type": type, "created_at": at.isoformat().replace("+00:00", "Z"), "data": data}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)


_SUBSCRIPTIONS = "multimail.enabled_webhooks"


@contextlib.contextmanager
def subscriptions_read_once(tx: Connection) -> Iterator[None]:
    """Within the block, `insert_event` reads the enabled subscriptions once, not once an event:
    for transactions that record many events and change no subscription (a delivery batch, an
    SMTP group commit), where that read was one statement of about ten a message."""
    tx.info[_SUBSCRIPTIONS] = None  # read at the first event
    try:
        yield
    finally:  # the connection's info outlives the transaction
        tx.info.pop(_SUBSCRIPTIONS, None)


def _enabled_webhooks(tx: Connection) -> list[Any]:
    if _SUBSCRIPTIONS not in tx.info:
        return list(tx.execute(_ENABLED_WEBHOOKS).mappings())
    if tx.info[_SUBSCRIPTIONS] is None:
        tx.info[_SUBSCRIPTIONS] = list(tx.execute(_ENABLED_WEBHOOKS).mappings())
    return tx.info[_SUBSCRIPTIONS]


def insert_event(tx: Connection, *, type: str, at: datetime, mailbox_id: str | None, message_id: str | None, data: dict) -> str:
    """Record an event and, in the same transaction, one delivery per matching subscription and
    the resume owed to every Prefect flow run the event settles."""
    event_id = new_id("evt")
    data = canonical_details(data)
    tx.execute(_INSERT_EVENT, {"id": event_id, "type": type, "created_at": at, "mailbox_id": mailbox_id,
                                "message_id": message_id, "data": data})
    subs = [
        w for w in _enabled_webhooks(tx)
        if (w["mailbox_id"] is None or w["mailbox_id"] == mailbox_id) and (w["events"] is None or type in w["events"])
    ]
    if subs:
        payload = envelope(event_id=event_id, type=type, at=at, data=data)
        for w in subs:
            insert_delivery(tx, webhook_id=w["id"], event_id=event_id, event_type=type, payload=payload, now=at)
    flow_run_waits.settle_for_event(tx, type=type, message_id=message_id, data=data, now=at)
    return event_id


def insert_delivery(tx: Connection, *, webhook_id: str, event_id: str, event_type: str, payload: str, now: datetime) -> str:
    delivery_id = new_id("whd")
    wakes.mark(tx, wakes.WEBHOOKS)
    tx.execute(_INSERT_DELIVERY, {
        "id": delivery_id, "webhook_id": webhook_id, "event_id": event_id, "event_type": event_type, "payload": payload,
        "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now,
    })
    return delivery_id


def list_audit(
    tx: Connection,
    *,
    scope_addresses: list[str] | None,
    include_global: bool,
    mailbox_id: str | None,
    actor: str | None,
    action: str | None,
    message_id: str | None,
    since: datetime | None,
    until: datetime | None,
    before_seq: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    q = select(audit_events)
    conds = []
    if scope_addresses is not None:
        scope = audit_events.c.mailbox_address.in_(scope_addresses)
        conds.append(or_(scope, audit_events.c.mailbox_id.is_(None)) if include_global else scope)
    if mailbox_id is not None:
        conds.append(audit_events.c.mailbox_id == mailbox_id)
    if actor is not None:
        conds.append(audit_events.c.actor_key_id == actor)
    if action is not None:
        conds.append(audit_events.c.action == action)
    if message_id is not None:
        conds.append(audit_events.c.message_id == message_id)
    if since is not None:
        conds.append(audit_events.c.at >= since)
    if until is not None:
        conds.append(audit_events.c.at < until)
    if before_seq is not None:
        conds.append(audit_events.c.seq < before_seq)
    if conds:
        q = q.where(and_(*conds))
    q = q.order_by(audit_events.c.seq.desc()).limit(limit)
    return [dict(r) for r in tx.execute(q).mappings()]


def list_events(tx: Connection, *, after_seq: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    q = select(events).where(events.c.seq > after_seq).order_by(events.c.seq).limit(limit)
    return [dict(r) for r in tx.execute(q).mappings()]
