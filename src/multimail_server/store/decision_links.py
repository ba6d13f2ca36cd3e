"""Queries for one-click decision links (see services/decision_links.py for what they are)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from .tables import decision_links


def insert_link(tx: Connection, *, nonce: str, message_id: str, option: str, expires_at: datetime) -> None:
    tx.execute(insert(decision_links).values(id=nonce, message_id=message_id, option=option, expires_at=expires_at,
                                             used_at=None, used_message_id=None))


def by_nonce(tx: Connection, nonce: str) -> dict[str, Any] | None:
    row = tx.execute(select(decision_links).where(decision_links.c.id == nonce)).mappings().first()
    return dict(row) if row else None


def of_question(tx: Connection, message_id: str) -> list[dict[str, Any]]:
    """The question's links; the caller orders them by its options."""
    return [dict(r) for r in tx.execute(select(decision_links).where(decision_links.c.message_id == message_id)).mappings()]


def used_of_question(tx: Connection, message_id: str) -> dict[str, Any] | None:
    row = tx.execute(
        select(decision_links).where(decision_links.c.message_id == message_id, decision_links.c.used_at.is_not(None))
    ).mappings().first()
    return dict(row) if row else None


def claim(tx: Connection, nonce: str, now: datetime) -> bool:
    """Mark the link used, once: False when another request used it first."""
    return tx.execute(
        update(decision_links).where(decision_links.c.id == nonce, decision_links.c.used_at.is_(None)).values(used_at=now)
    ).rowcount == 1


def set_used_message(tx: Connection, nonce: str, message_id: str) -> None:
    tx.execute(update(decision_links).where(decision_links.c.id == nonce).values(used_message_id=message_id))
