"""Queries for webhook deliveries and their attempts; claimed with leases like the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from . import leases, wakes
from .tables import webhook_attempts, webhook_deliveries, webhooks


def claim_due(tx: Connection, now: datetime, *, lease_seconds: float, limit: int) -> list[dict[str, Any]]:
    d = webhook_deliveries
    return leases.claim_due(tx, d, d.c.status, "pending", now, lease_seconds=lease_seconds, limit=limit)


def any_due(tx: Connection, now: datetime) -> bool:
    """Whether `claim_due` would find a row, read without a lock (see leases.any_due)."""
    d = webhook_deliveries
    return leases.any_due(tx, d, d.c.status, "pending", now)


def record_attempt(tx: Connection, *, delivery_id: str, at: datetime, status_code: int | None, error: str | None,
                   response_body: str | None, duration_ms: int) -> None:
    tx.execute(insert(webhook_attempts).values(delivery_id=delivery_id, attempted_at=at, status_code=status_code,
                                               error=error, response_body=response_body, duration_ms=duration_ms))


def settle(tx: Connection, seq: int, *, status: str, now: datetime, status_code: int | None, error: str | None,
           next_attempt_at: datetime | None = None) -> None:
    values: dict[str, Any] = {"status": status, "locked_until": None, "last_status_code": status_code,
                              "last_error": error, "updated_at": now}
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    if status in ("succeeded", "failed"):
        values["finished_at"] = now
    tx.execute(update(webhook_deliveries).where(webhook_deliveries.c.seq == seq).values(**values))


def by_id(tx: Connection, delivery_id: str) -> dict[str, Any] | None:
    row = tx.execute(select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)).mappings().first()
    return dict(row) if row else None


def page(tx: Connection, *, webhook_id: str, status: str | None, before_seq: int | None, limit: int) -> list[dict[str, Any]]:
    d = webhook_deliveries
    q = select(d).where(d.c.webhook_id == webhook_id)
    if status is not None:
        q = q.where(d.c.status == status)
    if before_seq is not None:
        q = q.where(d.c.seq < before_seq)
    return [dict(r) for r in tx.execute(q.order_by(d.c.seq.desc()).limit(limit)).mappings()]


def attempts_of(tx: Connection, delivery_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    result: dict[str, list[dict[str, Any]]] = {i: [] for i in delivery_ids}
    if delivery_ids:
        q = select(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(delivery_ids)).order_by(webhook_attempts.c.seq)
        for r in tx.execute(q).mappings():
            result[r["delivery_id"]].append(dict(r))
    return result


def reset_for_redelivery(tx: Connection, *, delivery_ids: list[str], now: datetime) -> int:
    """Make finished deliveries due again, keeping their id, payload and webhook-id."""
    if not delivery_ids:
        return 0
    d = webhook_deliveries
    wakes.mark(tx, wakes.WEBHOOKS)
    res = tx.execute(
        update(d).where(d.c.id.in_(delivery_ids), d.c.status.in_(("succeeded", "failed")))
        .values(status="pending", next_attempt_at=now, locked_until=None, finished_at=None, updated_at=now),
        execution_options={"preserve_rowcount": True},
    )
    return res.rowcount


def in_range(tx: Connection, *, webhook_id: str, since: datetime | None, until: datetime | None, status: str | None) -> list[str]:
    d = webhook_deliveries
    q = select(d.c.id).where(d.c.webhook_id == webhook_id)
    if since is not None:
        q = q.where(d.c.created_at >= since)
    if until is not None:
        q = q.where(d.c.created_at < until)
    if status is not None:
        q = q.where(d.c.status == status)
    return list(tx.execute(q).scalars())


def note_success(tx: Connection, webhook_id: str) -> None:
    tx.execute(update(webhooks).where(webhooks.c.id == webhook_id, webhooks.c.consecutive_failures != 0).values(consecutive_failures=0))


def note_failure(tx: Connection, webhook_id: str) -> int:
    """Count one more consecutive failed delivery; returns the new count."""
    tx.execute(update(webhooks).where(webhooks.c.id == webhook_id).values(consecutive_failures=webhooks.c.consecutive_failures + 1))
    return tx.execute(select(webhooks.c.consecutive_failures).where(webhooks.c.id == webhook_id)).scalar_one()


def disable(tx: Connection, webhook_id: str, *, now: datetime, reason: str) -> bool:
    res = tx.execute(
        update(webhooks).where(webhooks.c.id == webhook_id, webhooks.c.enabled.is_(True))
        .values(enabled=False, disabled_at=now, disabled_reason=reason, updated_at=now),
        execution_options={"preserve_rowcount": True},
    )
    return res.rowcount == 1
