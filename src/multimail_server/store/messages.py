"""Queries for threads, messages, attachments and tags."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import Connection, and_, bindparam, delete, exists, insert, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..core import search_query as sq
from . import blobs as blob_store
from . import search, wakes
from . import tables as t

# The statements every received message runs, built once: building one costs as much again as
# running it (SQLAlchemy derives its cache key from a new construct on each execution).
_INSERT_THREAD = insert(t.threads)
_INSERT_MESSAGE = insert(t.messages)
_INSERT_RAW_BLOB = {"postgresql": postgresql.insert(t.raw_blobs).on_conflict_do_nothing(index_elements=["sha256"]),
                    "sqlite": sqlite.insert(t.raw_blobs).on_conflict_do_nothing(index_elements=["sha256"])}
_HOLD_RAW_BLOB = select(t.raw_blobs.c.sha256).where(t.raw_blobs.c.sha256 == bindparam("sha256")).with_for_update(read=True)


def insert_thread(tx: Connection, row: dict[str, Any]) -> None:
    tx.execute(_INSERT_THREAD, row)


def touch_thread(tx: Connection, thread_id: str, at: datetime) -> None:
    tx.execute(update(t.threads).where(t.threads.c.id == thread_id).values(last_message_at=at))


def thread_by_id(tx: Connection, thread_id: str) -> dict[str, Any] | None:
    row = tx.execute(select(t.threads).where(t.threads.c.id == thread_id)).mappings().first()
    return dict(row) if row else None


def insert_message(tx: Connection, row: dict[str, Any]) -> None:
    tx.execute(_INSERT_MESSAGE, row)
    if row.get("approval_due_at") is not None:
        wakes.mark(tx, wakes.APPROVALS)


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
    """Each attachment with the sha256 of its bytes; with a blob store the bytes go there first
    (before this transaction commits) and the row keeps only the hash."""
    if not items:
        return
    blobs = blob_store.of(tx)
    rows = []
    for position, item in enumerate(items):
        content = item["content"]
        digest = blobs.put(content) if blobs is not None else blob_store.sha256_of(content)
        rows.append({"message_id": message_id, "position": position, **item, "content_sha256": digest,
                     "content": None if blobs is not None else content})
    tx.execute(insert(t.attachments), rows)


def _with_content(tx: Connection, row: dict[str, Any]) -> dict[str, Any]:
    """An attachment row with its bytes, read from the blob store when the row keeps only the hash."""
    if row.get("content") is None and row.get("content_sha256"):
        blobs = blob_store.of(tx)
        if blobs is None:
            raise_unconfigured(row["content_sha256"])
        row["content"] = blobs.get(row["content_sha256"])
    return row


def raise_unconfigured(sha256: str) -> NoReturn:
    from ..core.errors import StorageUnavailable

    raise StorageUnavailable(f"Bytes {sha256} are kept in a blob store, and this server has none configured "
                             "(start it with the same --blob-store as before).", details={"sha256": sha256})


_BY_ID = select(t.messages).where(t.messages.c.id == bindparam("message_id"))
_BY_ID_LOCKED = _BY_ID.with_for_update()


def by_id(tx: Connection, message_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    q = _BY_ID_LOCKED if lock and tx.dialect.name == "postgresql" else _BY_ID
    row = tx.execute(q, {"message_id": message_id}).mappings().first()
    return dict(row) if row else None


# In id order, so two transactions locking overlapping sets take the rows in the same order.
_BY_IDS = select(t.messages).where(t.messages.c.id.in_(bindparam("ids", expanding=True))).order_by(t.messages.c.id)
_BY_IDS_LOCKED = _BY_IDS.with_for_update()


def by_ids(tx: Connection, message_ids: list[str], *, lock: bool = False) -> dict[str, dict[str, Any]]:
    """Several messages in one statement (a delivery batch's), by id; missing ones left out.
    `lock` locks them all (PostgreSQL), in id order."""
    if not message_ids:
        return {}
    q = _BY_IDS_LOCKED if lock and tx.dialect.name == "postgresql" else _BY_IDS
    return {r["id"]: dict(r) for r in tx.execute(q, {"ids": list(dict.fromkeys(message_ids))}).mappings()}


def by_internet_ids(tx: Connection, mailbox_id: str, internet_ids: list[str]) -> list[dict[str, Any]]:
    if not internet_ids:
        return []
    q = select(t.messages).where(
        t.messages.c.mailbox_id == mailbox_id, t.messages.c.internet_message_id.in_(internet_ids)
    )
    return [dict(r) for r in tx.execute(q).mappings()]


# Built once (an equality, not an IN list rendered on each execution): every received message asks it.
_RECEIVED_WITH_ID = select(t.messages.c.direction, t.messages.c.raw_sha256, t.messages.c.raw, t.messages.c.metadata).where(
    t.messages.c.mailbox_id == bindparam("mailbox_id"), t.messages.c.internet_message_id == bindparam("internet_id"),
    t.messages.c.direction == "inbound")


def received_with_internet_id(tx: Connection, mailbox_id: str, internet_id: str) -> list[dict[str, Any]]:
    """The received messages of a mailbox with this Message-ID, with what a retried delivery is
    recognised by (services/receiving._same_delivery): their raw bytes' hash (or the bytes, for
    rows from before the hash) and their metadata."""
    return [dict(r) for r in tx.execute(_RECEIVED_WITH_ID, {"mailbox_id": mailbox_id, "internet_id": internet_id}).mappings()]


def thread_messages(tx: Connection, thread_id: str) -> list[dict[str, Any]]:
    q = select(t.messages).where(t.messages.c.thread_id == thread_id).order_by(t.messages.c.seq)
    return [dict(r) for r in tx.execute(q).mappings()]


# update_message's statements, one per shape (which columns it sets, which it compares and
# whether each compared value is NULL): the callers use a few dozen shapes, and building the
# UPDATE on each call cost more than running it (two per delivered message).
_UPDATES: dict[tuple[tuple[str, ...], tuple[tuple[str, bool], ...]], Any] = {}
_MAX_UPDATE_SHAPES = 512  # past this (it cannot happen with the callers here) statements are built per call


def _update_statement(cols: tuple[str, ...], where: tuple[tuple[str, bool], ...]):
    q = _UPDATES.get((cols, where))
    if q is None:
        c = t.messages.c
        q = update(t.messages).where(c.id == bindparam("b_id", type_=c.id.type))
        for col, is_null in where:
            q = q.where(c[col].is_(None) if is_null else c[col] == bindparam("w_" + col, type_=c[col].type))
        q = q.values({col: bindparam("v_" + col, type_=c[col].type) for col in cols})
        if len(_UPDATES) < _MAX_UPDATE_SHAPES:
            _UPDATES[(cols, where)] = q
    return q


def update_message(tx: Connection, message_id: str, values: dict[str, Any], *, where: dict[str, Any] | None = None) -> bool:
    """Conditional update: `where` names the state the row must still be in (compare-and-set).

    With a blob store, `raw` (an outbound message's hand-over bytes) goes to it through
    `raw_blobs` and the row keeps `raw_sha256`; `raw_of` reads it back either way."""
    if values.get("raw") is not None and blob_store.of(tx) is not None:
        values = {**values, "raw": None, "raw_sha256": keep_raw_blob(tx, values["raw"], values.get("sent_at") or t.utcnow())}
    if not values:
        raise ValueError("update_message needs at least one value to set")
    where = where or {}
    q = _update_statement(tuple(values), tuple((col, val is None) for col, val in where.items()))
    params = {"b_id": message_id, **{"v_" + col: val for col, val in values.items()},
              **{"w_" + col: val for col, val in where.items() if val is not None}}
    if values.get("approval_due_at") is not None:
        wakes.mark(tx, wakes.APPROVALS)
    return tx.execute(q, params).rowcount == 1


def attachments_of(tx: Connection, message_id: str, *, with_content: bool = False) -> list[dict[str, Any]]:
    cols = [t.attachments.c.id, t.attachments.c.filename, t.attachments.c.content_type, t.attachments.c.size]
    if with_content:
        cols += [t.attachments.c.content, t.attachments.c.content_sha256]
    q = select(*cols).where(t.attachments.c.message_id == message_id).order_by(t.attachments.c.position)
    rows = [dict(r) for r in tx.execute(q).mappings()]
    if with_content:
        purged = tx.execute(select(t.messages.c.attachments_purged_at).where(t.messages.c.id == message_id)).scalar()
        for row in rows:
            if purged is None:
                _with_content(tx, row)
            row.pop("content_sha256", None)
    return rows


def attachment(tx: Connection, attachment_id: str) -> dict[str, Any] | None:
    """One attachment with its bytes (`content` is None once its message's attachments were purged)."""
    row = tx.execute(select(t.attachments).where(t.attachments.c.id == attachment_id)).mappings().first()
    if row is None:
        return None
    purged = tx.execute(select(t.messages.c.attachments_purged_at).where(t.messages.c.id == row["message_id"])).scalar()
    return {**row, "purged_at": purged} if purged is not None else _with_content(tx, dict(row))


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
    include_spam: bool = False,
) -> list[dict[str, Any]]:
    """Inbound messages newest first (the columns of `_inbox_columns`); keyset-paginated on `seq`,
    so inserts never shift a page. `query`: only those a search query matches (store/search).
    Spam (flagged or quarantined) only with `include_spam`."""
    m = t.messages
    conds = [m.c.mailbox_id == mailbox_id, m.c.direction == "inbound"]
    if not include_spam:
        conds.append(m.c.spam_state.is_(None))
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
    with `flow_run_id`, every held message that Prefect flow run queued, whatever its age, and its
    scheduled ones that were never held (all that run's mail that has not left and can still be
    withdrawn when the run is cancelled)."""
    m = t.messages
    conds: list[Any] = []
    if flow_run_id is not None:
        conds.append(or_(m.c.approval_status.is_not(None), m.c.status == "scheduled"))
        conds.append(m.c.flow_run_id == flow_run_id)
    else:
        conds.append(m.c.approval_status.is_not(None))
        conds.append(or_(m.c.approval_status == "pending", m.c.decided_at >= decided_since))
    if mailbox_ids is not None:
        conds.append(m.c.mailbox_id.in_(mailbox_ids))
    q = select(m).where(and_(*conds)).order_by(m.c.seq)
    return [dict(r) for r in tx.execute(q).mappings()]


def put_raw_blob(tx: Connection, sha256: str, raw: bytes, now: datetime) -> None:
    """Keep `raw` once under its hash (a second message with the same bytes names the same row).
    With a blob store the bytes are written there first, before this transaction commits, and
    the row keeps the hash and size only."""
    blobs = blob_store.of(tx)
    if blobs is not None:
        blobs.put(raw)
    statement = _INSERT_RAW_BLOB["postgresql" if tx.dialect.name == "postgresql" else "sqlite"]
    row = {"sha256": sha256, "raw": None if blobs is not None else raw, "size": len(raw), "created_at": now}
    tx.execute(statement, row)
    if tx.dialect.name == "postgresql":
        # The row this message will name must outlive this transaction: a share lock on it makes
        # a concurrent purge (store/retention.drop_unreferenced_raw, which locks the rows it may
        # delete) wait for our commit and then see our message; if a purge deleted it first,
        # it is written again.
        if tx.execute(_HOLD_RAW_BLOB, {"sha256": sha256}).first() is None:
            tx.execute(statement, row)


def keep_raw_blob(tx: Connection, raw: bytes, now: datetime) -> str:
    digest = blob_store.sha256_of(raw)
    put_raw_blob(tx, digest, raw, now)
    return digest


def raw_of(tx: Connection, message: dict[str, Any]) -> bytes | None:
    """A message's RFC 5322 bytes: kept on the row (outbound), in `raw_blobs` (inbound), or in the
    blob store `raw_blobs` names; None once purged (`purged_at` / `attachments_purged_at`)."""
    if message.get("purged_at") is not None or message.get("attachments_purged_at") is not None:
        return None
    if message.get("raw") is not None:
        return message["raw"]
    if not message.get("raw_sha256"):
        return None
    row = tx.execute(select(t.raw_blobs.c.raw).where(t.raw_blobs.c.sha256 == message["raw_sha256"])).first()
    if row is None:
        return None
    if row[0] is not None:
        return row[0]
    blobs = blob_store.of(tx)
    if blobs is None:
        raise_unconfigured(message["raw_sha256"])
    return blobs.get(message["raw_sha256"])


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
    """The bytes of these attachments, by id (none of a message whose attachments were purged)."""
    if not attachment_ids:
        return {}
    a, m = t.attachments, t.messages
    q = (select(a.c.id, a.c.content, a.c.content_sha256).join(m, m.c.id == a.c.message_id)
         .where(a.c.id.in_(attachment_ids), m.c.attachments_purged_at.is_(None)))
    return {row["id"]: _with_content(tx, dict(row))["content"] for row in tx.execute(q).mappings()}


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
