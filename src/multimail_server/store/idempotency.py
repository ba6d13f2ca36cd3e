"""The idempotency slots: one row per (api key, slot), unique, so the database serialises
concurrent identical requests. On PostgreSQL, `INSERT ... ON CONFLICT DO NOTHING` waits for a
concurrent inserter of the same slot to commit or roll back before deciding; on SQLite the write
lock (BEGIN IMMEDIATE) already serialises them. Either way, exactly one request wins the slot and
the others read its message."""

from __future__ import annotations

import functools
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
    """Take the slot for `message_id`; if someone holds it, return their row instead.

    One statement for the common case (a new request): an insert that, on a conflict with an
    expired holder (which no longer counts), takes that row over instead, and on a conflict with
    a live holder changes nothing (the `WHERE` of `DO UPDATE`); it touched a row exactly when the
    slot is now ours. (It was a DELETE of the expired holder, then an insert: two statements on
    every send.)"""
    values = {"api_key_id": api_key_id, "slot": slot, "request_hash": request_hash, "message_id": message_id,
              "created_at": now, "expires_at": expires_at}
    # `preserve_rowcount`: SQLAlchemy does not keep an INSERT's rowcount by default, and with
    # psycopg it reads -1, which made every first request look like a duplicate of itself.
    if tx.execute(_claim_statement(tx.dialect.name), values, execution_options={"preserve_rowcount": True}).rowcount == 1:
        return None
    row = tx.execute(
        select(idempotency).where(idempotency.c.api_key_id == api_key_id, idempotency.c.slot == slot)
    ).mappings().first()
    return dict(row) if row else None


@functools.cache
def _claim_statement(dialect: str):
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = dialect_insert(idempotency)
    return stmt.on_conflict_do_update(
        index_elements=["api_key_id", "slot"],
        set_={c: stmt.excluded[c] for c in ("request_hash", "message_id", "created_at", "expires_at")},
        where=idempotency.c.expires_at <= stmt.excluded.created_at,  # the holder had expired by now
    )


def purge_expired(tx: Connection, now: datetime) -> int:
    return tx.execute(delete(idempotency).where(idempotency.c.expires_at <= now)).rowcount
