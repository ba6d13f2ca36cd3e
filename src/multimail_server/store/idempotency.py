"""The idempotency slots: one row per (api key, slot), unique, so the database serialises
concurrent identical requests. On PostgreSQL, `INSERT ... ON CONFLICT DO NOTHING` waits for a
concurrent inserter of the same slot to commit or roll back before deciding; on SQLite the write
lock (BEGIN IMMEDIATE) already serialises them. Either way, exactly one request wins the slot and
the others read its message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from .tables import idempotency


def claim(
    tx: Connection,
    *,
    api_key_id: str,
    slot: str,
    request_hash: str,
    message_id: str,
    now: datetime,
    expires_at: datetime,
) -> dict[str, Any] | None:
    """Take the slot for `message_id`; if someone holds it, return their row instead."""
    # An expired holder no longer counts; remove it so the slot can be taken again.
    tx.execute(
        delete(idempotency).where(
            idempotency.c.api_key_id == api_key_id, idempotency.c.slot == slot, idempotency.c.expires_at <= now
        )
    )
    dialect_insert = postgresql.insert if tx.dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(idempotency).on_conflict_do_nothing(index_elements=["api_key_id", "slot"])
    values = {"api_key_id": api_key_id, "slot": slot, "request_hash": request_hash, "message_id": message_id,
              "created_at": now, "expires_at": expires_at}
    # `preserve_rowcount`: SQLAlchemy does not keep an INSERT's rowcount by default, and with
    # psycopg it reads -1, which made every first request look like a duplicate of itself.
    if tx.execute(stmt, values, execution_options={"preserve_rowcount": True}).rowcount == 1:
        return None
    row = tx.execute(
        select(idempotency).where(idempotency.c.api_key_id == api_key_id, idempotency.c.slot == slot)
    ).mappings().first()
    return dict(row) if row else None


def holder(tx: Connection, *, api_key_id: str, slot: str, now: datetime) -> dict[str, Any] | None:
    """The live holder of a slot, read without taking it (a replay needs no write)."""
    row = tx.execute(
        select(idempotency).where(idempotency.c.api_key_id == api_key_id, idempotency.c.slot == slot,
                                  idempotency.c.expires_at > now)
    ).mappings().first()
    return dict(row) if row else None


def purge_expired(tx: Connection, now: datetime) -> int:
    return tx.execute(delete(idempotency).where(idempotency.c.expires_at <= now)).rowcount
