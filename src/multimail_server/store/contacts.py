"""Queries for the per-mailbox address book (services/contacts.py owns the rules: what an
address's key is, who may add, approve and delete, and what counts for `contacts_only`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from .tables import contacts, mailboxes


def _row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


def _with_mailbox():
    return (select(contacts, mailboxes.c.address.label("mailbox_address"))
            .join(mailboxes, mailboxes.c.id == contacts.c.mailbox_id))


def by_keys(tx: Connection, mailbox_id: str, keys: list[str]) -> list[dict[str, Any]]:
    """The contacts of `mailbox_id` whose address key is one of `keys`."""
    if not keys:
        return []
    q = _with_mailbox().where(contacts.c.mailbox_id == mailbox_id, contacts.c.address_key.in_(keys))
    return [_row(r) for r in tx.execute(q.order_by(contacts.c.seq))]


def count(tx: Connection, mailbox_id: str) -> int:
    return tx.execute(select(func.count()).select_from(contacts).where(contacts.c.mailbox_id == mailbox_id)).scalar_one()


def by_id(tx: Connection, contact_id: str) -> dict[str, Any] | None:
    r = tx.execute(_with_mailbox().where(contacts.c.id == contact_id)).first()
    return _row(r) if r is not None else None


def insert_contact(tx: Connection, row: dict[str, Any]) -> None:
    """Callers hold the write transaction and looked the key up first, so on SQLite the
    check-then-insert is serialised; on PostgreSQL a concurrent insert of the same key loses on
    the unique constraint (IntegrityError: services/contacts.py runs the upsert again)."""
    tx.execute(insert(contacts).values(**row))


def update_contact(tx: Connection, seq: int, values: dict[str, Any]) -> None:
    tx.execute(update(contacts).where(contacts.c.seq == seq).values(**values))


def delete_contact(tx: Connection, seq: int) -> None:
    tx.execute(delete(contacts).where(contacts.c.seq == seq))


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def page(tx: Connection, mailbox_ids: list[str] | None, *, query: str | None, after_seq: int | None,
         limit: int) -> list[dict[str, Any]]:
    """Contacts (with their mailbox's address) in insertion order after `after_seq` whose
    `search_text` contains `query` (already case-folded by the caller); `mailbox_ids` None means
    every mailbox."""
    q = _with_mailbox()
    if mailbox_ids is not None:
        q = q.where(contacts.c.mailbox_id.in_(mailbox_ids))
    if query:
        q = q.where(contacts.c.search_text.like(f"%{_like_escaped(query)}%", escape="\\"))
    if after_seq is not None:
        q = q.where(contacts.c.seq > after_seq)
    return [_row(r) for r in tx.execute(q.order_by(contacts.c.seq).limit(limit))]
