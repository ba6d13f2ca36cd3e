"""Queries of the purge job (services/retention.py) and of the blob store's garbage collection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, not_, or_, select, update

from . import tables as t

# What a message may be in for its content to be purged: inbound mail, and outbound mail that
# is finished. Held (pending approval), queued or scheduled mail is never purged: a human has
# yet to see it, or it has yet to leave in the approved version.
PURGEABLE_STATUSES = ("received", "sent", "failed", "rejected", "cancelled", "bounced", "delivered")


def mailboxes_with_retention(tx: Connection) -> list[dict[str, Any]]:
    mb = t.mailboxes
    q = select(mb.c.id, mb.c.address, mb.c.oversight_mode, mb.c.retain_bodies_days, mb.c.retain_attachments_days).where(
        or_(mb.c.retain_bodies_days.is_not(None), mb.c.retain_attachments_days.is_not(None))).order_by(mb.c.id)
    return [dict(r) for r in tx.execute(q).mappings()]


def _awaiting_decision() -> Any:
    """Messages of threads a human has yet to answer: an open decide_email question (an outbound
    question not withdrawn, with no decision recorded in its thread), or a flow run waiting on
    the thread or on the message. Their content stays until the question is settled."""
    m, other, w = t.messages, t.messages.alias("answer"), t.flow_run_waits
    q = t.messages.alias("question")
    open_question = exists().where(
        q.c.thread_id == m.c.thread_id, q.c.kind == "decision", q.c.direction == "outbound", q.c.options.is_not(None),
        q.c.status.not_in(("cancelled", "rejected", "failed")),
        not_(exists().where(other.c.thread_id == m.c.thread_id, other.c.decision.is_not(None))))
    waiting = exists().where(w.c.target_id.in_([m.c.thread_id, m.c.id]), w.c.status.in_(("waiting", "due")))
    return or_(open_question, waiting)


def purgeable(tx: Connection, *, mailbox_id: str, before: datetime, what: str, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` messages of the mailbox created before `before` whose bodies (`what` =
    "bodies") or attachments ("attachments") are due for purging, oldest first."""
    m = t.messages
    conds = [m.c.mailbox_id == mailbox_id, m.c.created_at < before, m.c.status.in_(PURGEABLE_STATUSES),
             or_(m.c.approval_status.is_(None), m.c.approval_status != "pending"), not_(_awaiting_decision())]
    if what == "bodies":
        conds.append(m.c.purged_at.is_(None))
    else:
        conds += [m.c.attachments_purged_at.is_(None), exists().where(t.attachments.c.message_id == m.c.id)]
    q = (select(m.c.id, m.c.mailbox_id, m.c.thread_id, m.c.raw, m.c.raw_sha256, m.c.oversight_mode, m.c.approval_status,
                m.c.purged_at, m.c.attachments_purged_at)
         .where(and_(*conds)).order_by(m.c.created_at, m.c.seq).limit(limit))
    if tx.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)  # two workers never purge (and audit) one message twice
    return [dict(r) for r in tx.execute(q).mappings()]


def purge_bodies(tx: Connection, message_id: str, *, notice: str, raw_sha256: str | None, now: datetime) -> bool:
    """Bodies and raw bytes gone, the notice in their place; compare-and-set on `purged_at`."""
    m = t.messages
    values: dict[str, Any] = {"body_text": notice, "body_html": None, "raw": None, "purged_at": now}
    if raw_sha256:
        values["raw_sha256"] = raw_sha256
    return tx.execute(update(m).where(m.c.id == message_id, m.c.purged_at.is_(None)).values(**values)).rowcount == 1


def purge_attachments(tx: Connection, message_id: str, *, raw_sha256: str | None, now: datetime) -> bool:
    """Attachment bytes gone (names, types, sizes and hashes stay), and the raw bytes with them."""
    m = t.messages
    values: dict[str, Any] = {"raw": None, "attachments_purged_at": now}
    if raw_sha256:
        values["raw_sha256"] = raw_sha256
    if tx.execute(update(m).where(m.c.id == message_id, m.c.attachments_purged_at.is_(None)).values(**values)).rowcount != 1:
        return False
    tx.execute(update(t.attachments).where(t.attachments.c.message_id == message_id).values(content=None))
    return True


# The keys of an event's data that carry a message's content (services/receiving.py puts the
# body and its snippet in message.received, for webhook receivers).
CONTENT_KEYS = ("body", "snippet", "html")


def scrub_event_content(tx: Connection, message_ids: list[str], *, notice: str) -> int:
    """Replace the content of these messages in the events about them and in the webhook
    payloads made from those events (both kept for redelivery), so a purged body cannot be read
    back through list_webhook_deliveries or a redelivery. The audit trail is another table and
    is not touched."""
    import json

    if not message_ids:
        return 0
    ev, wd = t.events, t.webhook_deliveries
    changed = 0
    for row in tx.execute(select(ev.c.id, ev.c.data).where(ev.c.message_id.in_(message_ids))).mappings():
        data = dict(row["data"] or {})
        if not any(k in data for k in CONTENT_KEYS):
            continue
        data.update({k: (notice if k == "body" else None if k == "html" else "") for k in CONTENT_KEYS if k in data})
        tx.execute(update(ev).where(ev.c.id == row["id"]).values(data=data))
        for delivery in tx.execute(select(wd.c.id, wd.c.payload).where(wd.c.event_id == row["id"])).mappings():
            payload = json.loads(delivery["payload"])
            payload["data"] = data
            tx.execute(update(wd).where(wd.c.id == delivery["id"]).values(
                payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)))
        changed += 1
    return changed


def drop_unreferenced_raw(tx: Connection, hashes: list[str]) -> int:
    """Remove the `raw_blobs` rows among `hashes` that no message with its raw bytes still names
    (a message to several hosted mailboxes shares one row; another mailbox may keep it longer)."""
    if not hashes:
        return 0
    m, rb = t.messages, t.raw_blobs
    wanted = sorted(set(hashes))
    if tx.dialect.name == "postgresql":
        # Lock the rows first; the DELETE below is a new statement, so (READ COMMITTED) it sees
        # every message committed by a receiver that held the row before us (messages.put_raw_blob).
        tx.execute(select(rb.c.sha256).where(rb.c.sha256.in_(wanted)).order_by(rb.c.sha256).with_for_update())
    live = exists().where(m.c.raw_sha256 == rb.c.sha256, m.c.purged_at.is_(None), m.c.attachments_purged_at.is_(None))
    return tx.execute(delete(rb).where(rb.c.sha256.in_(wanted), not_(live))).rowcount


def raw_hashes_of_mailbox(tx: Connection, mailbox_id: str) -> list[str]:
    m = t.messages
    q = select(m.c.raw_sha256).where(m.c.mailbox_id == mailbox_id, m.c.raw_sha256.is_not(None)).distinct()
    return [r[0] for r in tx.execute(q)]


def messages_for_export(tx: Connection, *, mailbox_id: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """A batch of the mailbox's messages in order (seq), for export."""
    m = t.messages
    q = select(m).where(m.c.mailbox_id == mailbox_id, m.c.seq > after_seq).order_by(m.c.seq).limit(limit)
    return [dict(r) for r in tx.execute(q).mappings()]
