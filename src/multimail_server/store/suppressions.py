"""Queries for the per-mailbox suppression list (services/suppressions.py owns the rules: what an
address's key is, who may add or remove)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select

from .tables import mailboxes, suppressions


def _row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


# Built once (every send checks its recipients): an expanding parameter takes the list.
_FIND = (select(suppressions)
         .where(suppressions.c.mailbox_id == bindparam("mailbox_id"), suppressions.c.address.in_(bindparam("addresses", expanding=True)))
         .order_by(suppressions.c.seq))


def find(tx: Connection, mailbox_id: str, addresses: list[str]) -> list[dict[str, Any]]:
    """The entries of `mailbox_id` whose key is one of `addresses`."""
    if not addresses:
        return []
    return [_row(r) for r in tx.execute(_FIND, {"mailbox_id": mailbox_id, "addresses": list(addresses)})]


def add(tx: Connection, row: dict[str, Any]) -> bool:
    """Insert unless the mailbox has the address already (the first reason is kept); True if new.
    Callers hold the write transaction, so check-then-insert is serialised on SQLite; on
    PostgreSQL a concurrent insert of the same key loses on the unique constraint."""
    if find(tx, row["mailbox_id"], [row["address"]]):
        return False
    tx.execute(insert(suppressions).values(**row))
    return True


def remove(tx: Connection, mailbox_id: str, address: str) -> dict[str, Any] | None:
    """Delete one entry; returns it, or None if there was none."""
    found = find(tx, mailbox_id, [address])
    if not found:
        return None
    tx.execute(delete(suppressions).where(suppressions.c.seq == found[0]["seq"]))
    return found[0]


def page(tx: Connection, mailbox_ids: list[str] | None, *, after_seq: int | None, limit: int,
         address: str | None = None) -> list[dict[str, Any]]:
    """Entries (with their mailbox's address) in insertion order after `after_seq`; `mailbox_ids`
    None means every mailbox."""
    q = (select(suppressions, mailboxes.c.address.label("mailbox_address"))
         .join(mailboxes, mailboxes.c.id == suppressions.c.mailbox_id))
    if mailbox_ids is not None:
        q = q.where(suppressions.c.mailbox_id.in_(mailbox_ids))
    if after_seq is not None:
        q = q.where(suppressions.c.seq > after_seq)
    if address is not None:
        q = q.where(suppressions.c.address == address)
    return [_row(r) for r in tx.execute(q.order_by(suppressions.c.seq).limit(limit))]
