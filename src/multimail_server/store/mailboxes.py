"""Queries for mailboxes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from . import tables as t


def insert_mailbox(tx: Connection, row: dict[str, Any]) -> None:
    tx.execute(insert(t.mailboxes).values(**row))


# Built once (values bound as parameters): every send and every received message looks its
# mailbox up, and building the statement cost more than running it.
_BY_ADDRESS = select(t.mailboxes).where(t.mailboxes.c.address == bindparam("address"))
_BY_ID = select(t.mailboxes).where(t.mailboxes.c.id == bindparam("mailbox_id"))


def by_address(tx: Connection, address: str) -> dict[str, Any] | None:
    row = tx.execute(_BY_ADDRESS, {"address": address}).mappings().first()
    return dict(row) if row else None


def by_id(tx: Connection, mailbox_id: str) -> dict[str, Any] | None:
    row = tx.execute(_BY_ID, {"mailbox_id": mailbox_id}).mappings().first()
    return dict(row) if row else None


def list_all(tx: Connection, addresses: frozenset[str] | None) -> list[dict[str, Any]]:
    q = select(t.mailboxes).order_by(t.mailboxes.c.created_at, t.mailboxes.c.address)
    if addresses is not None:
        q = q.where(t.mailboxes.c.address.in_(sorted(addresses)))
    return [dict(r) for r in tx.execute(q).mappings()]


def addresses_in(tx: Connection, addresses: list[str]) -> dict[str, dict[str, Any]]:
    """The hosted mailboxes among `addresses` (normalized), for local delivery."""
    if not addresses:
        return {}
    rows = tx.execute(select(t.mailboxes).where(t.mailboxes.c.address.in_(addresses))).mappings()
    return {r["address"]: dict(r) for r in rows}


def update_mailbox(tx: Connection, mailbox_id: str, values: dict[str, Any]) -> None:
    tx.execute(update(t.mailboxes).where(t.mailboxes.c.id == mailbox_id).values(**values))


def delete_mailbox(tx: Connection, mailbox_id: str) -> None:
    """Remove a mailbox and its mail; the audit trail and events stay (they hold no foreign keys).
    The raw bytes its messages alone named go too (`raw_blobs` rows; with a blob store, its
    objects are then unreferenced and the purge job's gc removes them after the grace period)."""
    from .retention import drop_unreferenced_raw, raw_hashes_of_mailbox

    hashes = raw_hashes_of_mailbox(tx, mailbox_id)
    msg_ids = select(t.messages.c.id).where(t.messages.c.mailbox_id == mailbox_id).scalar_subquery()
    tx.execute(delete(t.message_tags).where(t.message_tags.c.message_id.in_(msg_ids)))
    tx.execute(delete(t.attachments).where(t.attachments.c.message_id.in_(msg_ids)))
    tx.execute(delete(t.outbox).where(t.outbox.c.message_id.in_(msg_ids)))
    tx.execute(delete(t.approval_links).where(t.approval_links.c.message_id.in_(msg_ids)))
    tx.execute(delete(t.outbound_pauses).where(t.outbound_pauses.c.scope == mailbox_id))
    tx.execute(delete(t.suppressions).where(t.suppressions.c.mailbox_id == mailbox_id))
    tx.execute(delete(t.contacts).where(t.contacts.c.mailbox_id == mailbox_id))
    tx.execute(delete(t.messages).where(t.messages.c.mailbox_id == mailbox_id))
    drop_unreferenced_raw(tx, hashes)
    tx.execute(delete(t.threads).where(t.threads.c.mailbox_id == mailbox_id))
    tx.execute(delete(t.webhooks).where(t.webhooks.c.mailbox_id == mailbox_id))
    tx.execute(delete(t.mailboxes).where(t.mailboxes.c.id == mailbox_id))
