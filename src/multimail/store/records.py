"""Audit events and state-change events, written inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select

from ..core.ids import new_id
from .tables import audit_events, events


def insert_audit(tx: Connection, row: dict[str, Any]) -> str:
    row = {"id": new_id("aud"), **row}
    tx.execute(insert(audit_events).values(**row))
    return row["id"]


def insert_event(tx: Connection, *, type: str, at: datetime, mailbox_id: str | None, message_id: str | None, data: dict) -> str:
    event_id = new_id("evt")
    tx.execute(
        insert(events).values(
            id=event_id, type=type, created_at=at, mailbox_id=mailbox_id, message_id=message_id, data=data
        )
    )
    return event_id


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
