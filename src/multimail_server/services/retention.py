"""Retention: the purge job that removes message content past each mailbox's windows, and the
blob store's garbage collection.

A mailbox's `retain_bodies_days` removes a message's text and HTML bodies and its raw bytes;
`retain_attachments_days` removes its attachments' bytes, and the raw bytes too (they carry the
attachments). Null keeps them for ever. What stays: the row, its headers (from, to, subject,
Message-ID, threading), the attachments' names, types, sizes and sha256, the raw bytes' sha256,
the approved content hash, and the whole audit trail (audit events are never rewritten, so the
hash chain still verifies). The webhook events about a purged message (and their stored payloads)
lose its body and snippet too, so a redelivery cannot bring the content back; the full-text
index follows the body by itself (store/search.py: triggers on SQLite, a generated column on
PostgreSQL), so a purged body is no longer found either. A purged body reads as a notice saying
when it was purged; the raw bytes and attachments answer 410 `content_purged` with the date.

Never purged: held (pending approval), queued or otherwise unfinished mail, and the messages of
threads a human has yet to answer (an open decide_email question, or a Prefect flow run waiting
on the thread or message): the content a decision is about stays until it is taken.

The job is idempotent and restart-safe: every purge is a compare-and-set on `purged_at` /
`attachments_purged_at` in the transaction that also writes its audit event, batches are small
(`retention_batch`), and what is due is recomputed from the database on every pass.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from ..core.errors import Gone
from ..store import blobs as blob_store
from ..store import retention as retention_q
from .common import iso, record
from .context import Context
from .workers import PollingWorker

log = logging.getLogger("multimail.retention")

MAX_RETENTION_DAYS = 36500


def purge_notice(at: datetime, days: int | None) -> str:
    window = f" (retain_bodies_days: {days})" if days else ""
    return f"[Content purged on {at.date().isoformat()} under this mailbox's retention settings{window}.]"


def refuse_purged(what: str, *, message_id: str, purged_at: datetime | None) -> None:
    """410 for content that was purged: a clear answer rather than empty bytes."""
    if purged_at is not None:
        raise Gone(f"The {what} of message {message_id} was purged on {purged_at.date().isoformat()} under its mailbox's "
                   "retention settings.", details={"message_id": message_id, "purged_at": iso(purged_at)})


def raw_purged_at(msg: dict[str, Any]) -> datetime | None:
    return msg.get("purged_at") or msg.get("attachments_purged_at")


def _raw_sha(row: dict[str, Any]) -> str | None:
    if row.get("raw_sha256"):
        return row["raw_sha256"]
    return blob_store.sha256_of(row["raw"]) if row.get("raw") is not None else None


def purge_due(ctx: Context, *, limit: int | None = None) -> int:
    """One batch of due purges per mailbox and kind; the number of messages purged."""
    now = ctx.now()
    limit = limit or ctx.settings.retention_batch
    done = 0
    with ctx.store.read() as tx:
        boxes = retention_q.mailboxes_with_retention(tx)
    for box in boxes:
        for what, days in (("bodies", box["retain_bodies_days"]), ("attachments", box["retain_attachments_days"])):
            if days is None:
                continue
            with ctx.store.write() as tx:
                rows = retention_q.purgeable(tx, mailbox_id=box["id"], before=now - timedelta(days=days), what=what, limit=limit)
                hashes = []
                purged = []
                for row in rows:
                    sha = _raw_sha(row)
                    if what == "bodies":
                        ok = retention_q.purge_bodies(tx, row["id"], notice=purge_notice(now, days), raw_sha256=sha, now=now)
                    else:
                        ok = retention_q.purge_attachments(tx, row["id"], raw_sha256=sha, now=now)
                    if not ok:
                        continue
                    purged.append(row["id"])
                    if sha:
                        hashes.append(sha)
                    record(tx, at=now, principal=None, action=f"message.{what}_purged", mailbox=box, message=row,
                           details={"retain_days": days, "raw_sha256": sha})
                retention_q.drop_unreferenced_raw(tx, hashes)
                if what == "bodies":
                    retention_q.scrub_event_content(tx, purged, notice=purge_notice(now, days))
            done += len(purged)
    return done


def collect_garbage(ctx: Context, *, grace_seconds: float | None = None) -> int:
    """Delete the blob store's objects no row references that are older than the grace period
    (and interrupted writes' temporary files); the number removed. Without a blob store, 0."""
    blobs = blob_store.for_engine(ctx.store.engine)
    if blobs is None:
        return 0
    grace = ctx.settings.blob_gc_grace_seconds if grace_seconds is None else grace_seconds
    cutoff = ctx.now() - timedelta(seconds=grace)
    old: list[str] = []
    removed = 0
    for name, modified in blobs.listing():
        if modified is None or modified >= cutoff:
            continue
        if ".tmp-" in name:
            blobs.remove_path_named(name)
            removed += 1
        else:
            old.append(name)
    for start in range(0, len(old), 500):
        chunk = old[start:start + 500]
        with ctx.store.read() as tx:
            live = blob_store.referenced(tx, chunk)
        for sha in chunk:
            if sha in live:
                continue
            # Looked at again just before removing: a `put` since the listing (a new message with
            # the same bytes, about to commit) made it young again.
            modified = blobs.modified(sha)
            if modified is not None and modified < cutoff:
                blobs.delete(sha)
                removed += 1
    return removed


class RetentionWorker(PollingWorker):
    """The purge job and the blob store's gc, in the worker role, on a slow clock: it does not
    wake on commits (nothing a commit does makes content due sooner)."""

    name = "retention"

    wake_topics = frozenset()  # on its clock alone

    @property
    def poll_seconds(self) -> float:
        return self.ctx.settings.retention_poll_seconds

    def run_once(self) -> int:
        return purge_due(self.ctx)

    def idle(self) -> None:
        removed = collect_garbage(self.ctx)
        if removed:
            log.info("blob store: removed %d unreferenced blobs", removed)
