"""Queries for threads, messages, attachments and tags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, insert, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..core import search_query as sq
from . import search
from . import tables as t


def insert_thread(tx: Connection, row: dict[str, Any]) -> None:
    tx.execute(insert(t.threads), row)


def touch_thread(tx: Connection, thread_id: str, at: datetime) -> None:
    tx.execute(update(t.threads).where(t.threads.c.id == thread_id).values(last_message_at=at))


def thread_by_id(tx: Connection, thread_id: str) -> dict[str, Any] | None:
    row = tx.execute(select(t.threads).where(t.threads.c.id == thread_id)).mappings().first()
    return dict(row) if row else None


def insert_message(tx: Connection, row: dict[str, Any]) -> None:
    tx.execute(insert(t.messages), row)


def insert_many(tx: Connection, *, threads: list[dict[str, Any]], messages: list[dict[str, Any]],
                tags: list[dict[str, Any]] | None = None) -> None:
    """Threads, messages and tags ({message_id, key, value}) in one multi-row statement each (an
    import, or a benchmark's store of a million messages): rows as `insert_thread` and
    `insert_message` take them, every row of a list with the same keys."""
    if threads:
        tx.execute(insert(t.threads), threads)
    if messages:
        tx.execute(insert(t.messages), messages)
    if tags:
        tx.execute(insert(t.message_tags), tags)


def insert_attachments(tx: Connection, message_id: str, items: list[dict[str, Any]]) -> None:
    if items:
        tx.execute(insert(t.attachments), [{"message_id": message_id, "position": position, **item}
                                           for position, item in enumerate(items)])


def by_id(tx: Connection, message_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    q = select(t.messages).where(t.messages.c.id == message_id)
    if lock and tx.dialect.name == "postgresql":
        q = q.with_for_update()
    row = tx.execute(q).mappings().first()
    return dict(row) if row else None


def by_internet_ids(tx: Connection, mailbox_id: str, internet_ids: list[str]) -> list[dict[str, Any]]:
    if not internet_ids:
        return []
    q = select(t.messages).where(
        t.messages.c.mailbox_id == mailbox_id, t.messages.c.internet_message_id.in_(internet_ids)
    )
    return [dict(r) for r in tx.execute(q).mappings()]


def thread_messages(tx: Connection, thread_id: str) -> list[dict[str, Any]]:
    q = select(t.messages).where(t.messages.c.thread_id == thread_id).order_by(t.messages.c.seq)
    return [dict(r) for r in tx.execute(q).mappings()]


def update_message(tx: Connection, message_id: str, values: dict[str, Any], *, where: dict[str, Any] | None = None) -> bool:
    """Conditional update: `where` names the state the row must still be in (compare-and-set)."""
    q = update(t.messages).where(t.messages.c.id == message_id)
    for col, val in (where or {}).items():
        q = q.where(t.messages.c[col] == val)
    return tx.execute(q.values(**values)).rowcount == 1


def attachments_of(tx: Connection, message_id: str, *, with_content: bool = False) -> list[dict[str, Any]]:
    cols = [t.attachments.c.id, t.attachments.c.filename, t.attachments.c.content_type, t.attachments.c.size]
    if with_content:
        cols.append(t.attachments.c.content)
    q = select(*cols).where(t.attachments.c.message_id == message_id).order_by(t.attachments.c.position)
    return [dict(r) for r in tx.execute(q).mappings()]


def attachment(tx: Connection, attachment_id: str) -> dict[str, Any] | None:
    row = tx.execute(select(t.attachments).where(t.attachments.c.id == attachment_id)).mappings().first()
    return dict(row) if row else None


def tags_of(tx: Connection, message_ids: list[str]) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {m: {} for m in message_ids}
    if not message_ids:
        return result
    q = select(t.message_tags).where(t.message_tags.c.message_id.in_(message_ids)).order_by(t.message_tags.c.key)
    for row in tx.execute(q).mappings():
        result[row["message_id"]][row["key"]] = row["value"]
    return result


def set_tags(tx: Connection, message_id: str, tags: dict[str, str], remove: list[str]) -> None:
    if remove:
        tx.execute(
            delete(t.message_tags).where(t.message_tags.c.message_id == message_id, t.message_tags.c.key.in_(remove))
        )
    if tags:
        # An upsert, not delete-then-insert: two concurrent taggers of one message would both
        # find nothing to delete and the second insert would fail on the primary key (PostgreSQL).
        # Keys in sorted order so concurrent upserts of several keys lock rows in the same order.
        dialect_insert = postgresql.insert if tx.dialect.name == "postgresql" else sqlite.insert
        stmt = dialect_insert(t.message_tags).values(
            [{"message_id": message_id, "key": k, "value": tags[k]} for k in sorted(tags)]
        )
        tx.execute(stmt.on_conflict_do_update(index_elements=["message_id", "key"], set_={"value": stmt.excluded.value}))


def inbox_page(
    tx: Connection,
    *,
    mailbox_id: str,
    tag: str | None,
    exclude_tag: str | None,
    unread: bool | None,
    since: datetime | None,
    before_seq: int | None,
    limit: int,
    query: sq.Node | None = None,
) -> list[dict[str, Any]]:
    """Inbound messages newest first (the columns of `_inbox_columns`); keyset-paginated on `seq`,
    so inserts never shift a page. `query`: only those a search query matches (store/search)."""
    m = t.messages
    conds = [m.c.mailbox_id == mailbox_id, m.c.direction == "inbound"]
    if tag is not None:
        conds.append(exists().where(t.message_tags.c.message_id == m.c.id, t.message_tags.c.key == tag))
    if exclude_tag is not None:
        conds.append(not_(exists().where(t.message_tags.c.message_id == m.c.id, t.message_tags.c.key == exclude_tag)))
    if unread is True:
        conds.append(m.c.read.is_(False))
    elif unread is False:
        conds.append(m.c.read.is_(True))
    if since is not None:
        conds.append(m.c.received_at >= since)
    q, seq = search.narrow(select(*_inbox_columns()).where(and_(*conds)), tx.dialect.name, query)
    if before_seq is not None:
        q = q.where(seq < before_seq)
    return [dict(r) for r in tx.execute(q.order_by(seq.desc()).limit(limit)).mappings()]


def _inbox_columns() -> list[Any]:
    """What an inbox page shows (services/views.inbox_item), not the whole row: each of the seven
    JSON columns of a message costs a json.loads per row, and with them a page of 50 took twice
    as long to read as it does with the two it needs."""
    m = t.messages
    return [m.c.seq, m.c.id, m.c.thread_id, m.c.from_addr, m.c.to_addrs, m.c.cc_addrs, m.c.subject, m.c.body_text,
            m.c.received_at, m.c.created_at, m.c.read, m.c.is_reply, m.c.decision]


def pending_and_recent(
    tx: Connection, *, mailbox_ids: list[str] | None, decided_since: datetime, flow_run_id: str | None = None
) -> list[dict[str, Any]]:
    """Messages awaiting approval, plus those decided since `decided_since` (with their decision);
    with `flow_run_id`, every held message that Prefect flow run queued, whatever its age."""
    m = t.messages
    conds: list[Any] = [m.c.approval_status.is_not(None)]
    if flow_run_id is not None:
        conds.append(m.c.flow_run_id == flow_run_id)
    else:
        conds.append(or_(m.c.approval_status == "pending", m.c.decided_at >= decided_since))
    if mailbox_ids is not None:
        conds.append(m.c.mailbox_id.in_(mailbox_ids))
    q = select(m).where(and_(*conds)).order_by(m.c.seq)
    return [dict(r) for r in tx.execute(q).mappings()]


def put_raw_blob(tx: Connection, sha256: str, raw: bytes, now: datetime) -> None:
    """Keep `raw` once under its hash (a second message with the same bytes names the same row)."""
    dialect_insert = postgresql.insert if tx.dialect.name == "postgresql" else sqlite.insert
    tx.execute(dialect_insert(t.raw_blobs).on_conflict_do_nothing(index_elements=["sha256"]),
               {"sha256": sha256, "raw": raw, "created_at": now})


def raw_of(tx: Connection, message: dict[str, Any]) -> bytes | None:
    """A message's RFC 5322 bytes: kept on the row (outbound) or in `raw_blobs` (inbound)."""
    if message.get("raw") is not None:
        return message["raw"]
    if not message.get("raw_sha256"):
        return None
    row = tx.execute(select(t.raw_blobs.c.raw).where(t.raw_blobs.c.sha256 == message["raw_sha256"])).first()
    return row[0] if row else None


def attachments_of_many(tx: Connection, message_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each message's attachments (id, filename, content_type, size; not their content), in
    position order, in one query."""
    result: dict[str, list[dict[str, Any]]] = {m: [] for m in message_ids}
    if not message_ids:
        return result
    a = t.attachments
    q = select(a.c.message_id, a.c.id, a.c.filename, a.c.content_type, a.c.size).where(
        a.c.message_id.in_(message_ids)).order_by(a.c.message_id, a.c.position)
    for row in tx.execute(q).mappings():
        result[row["message_id"]].append({k: row[k] for k in ("id", "filename", "content_type", "size")})
    return result


def attachment_contents(tx: Connection, attachment_ids: list[str]) -> dict[str, bytes]:
    """The bytes of these attachments, by id."""
    if not attachment_ids:
        return {}
    a = t.attachments
    return {row["id"]: row["content"] for row in tx.execute(select(a.c.id, a.c.content).where(a.c.id.in_(attachment_ids))).mappings()}


# The audit actions of the calls that create an outbound message (services/sending._submit).
_CREATING_ACTIONS = ("message.send", "message.reply", "message.decide")


def held_reasons(tx: Connection, message_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Why each message was held, as its creating audit event recorded it (`held_because`): the
    reason lives in the hash-chained trail, not in a column the message's author could set."""
    if not message_ids:
        return {}
    e = t.audit_events
    q = select(e.c.message_id, e.c.details).where(e.c.message_id.in_(message_ids), e.c.action.in_(_CREATING_ACTIONS))
    return {row["message_id"]: row["details"]["held_because"] for row in tx.execute(q).mappings()
            if isinstance(row["details"], dict) and row["details"].get("held_because")}
