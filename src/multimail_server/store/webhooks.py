"""Queries for webhook subscriptions (delivery comes with the webhook worker)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select

from . import wakes
from .tables import webhooks


def insert_webhook(tx: Connection, row: dict[str, Any]) -> None:
    tx.execute(insert(webhooks).values(**row))


def by_id(tx: Connection, webhook_id: str) -> dict[str, Any] | None:
    row = tx.execute(select(webhooks).where(webhooks.c.id == webhook_id)).mappings().first()
    return dict(row) if row else None


def list_webhooks(tx: Connection, mailbox_ids: list[str] | None) -> list[dict[str, Any]]:
    q = select(webhooks).order_by(webhooks.c.created_at)
    if mailbox_ids is not None:
        q = q.where(webhooks.c.mailbox_id.in_(mailbox_ids))
    return [dict(r) for r in tx.execute(q).mappings()]


def delete_webhook(tx: Connection, webhook_id: str) -> None:
    tx.execute(delete(webhooks).where(webhooks.c.id == webhook_id))


def update_webhook(tx: Connection, webhook_id: str, values: dict[str, Any]) -> None:
    from sqlalchemy import update

    if values.get("enabled"):
        wakes.mark(tx, wakes.WEBHOOKS)  # its deliveries left pending while it was off may go now
    tx.execute(update(webhooks).where(webhooks.c.id == webhook_id).values(**values))
