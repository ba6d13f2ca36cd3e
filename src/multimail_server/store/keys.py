"""Queries for API keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, text, update

from .tables import api_keys, utcnow


def insert_key(tx: Connection, row: dict[str, Any]) -> None:
    tx.execute(insert(api_keys).values(**row))


# Lookups every request makes are built once, with their values as bound parameters: building a
# statement and its cache key each call cost about 50 µs, against about 20 µs to run it.
_BY_HASH = select(api_keys).where(api_keys.c.key_hash == bindparam("key_hash"))
_BY_ID = select(api_keys).where(api_keys.c.id == bindparam("key_id"))


def by_hash(tx: Connection, key_hash: str) -> dict[str, Any] | None:
    row = tx.execute(_BY_HASH, {"key_hash": key_hash}).mappings().first()
    return dict(row) if row else None


def by_id(tx: Connection, key_id: str) -> dict[str, Any] | None:
    row = tx.execute(_BY_ID, {"key_id": key_id}).mappings().first()
    return dict(row) if row else None


def list_keys(tx: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in tx.execute(select(api_keys).order_by(api_keys.c.created_at)).mappings()]


def count_active(tx: Connection) -> int:
    return tx.execute(select(func.count()).select_from(api_keys).where(api_keys.c.revoked_at.is_(None))).scalar_one()


def revoke(tx: Connection, key_id: str) -> bool:
    res = tx.execute(
        update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    return res.rowcount == 1


def lock_for_first_key(tx: Connection) -> None:
    """Serialise "create the first admin key if none exists" between servers starting together
    (PostgreSQL; SQLite's write transactions are serial already)."""
    if tx.dialect.name == "postgresql":
        tx.execute(text("LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE"))
