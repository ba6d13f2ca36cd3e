"""Cheap "did it change?" versions for long-poll targets (services/wait_hub.py).

A version is a small value that changes whenever the long-polled answer of its target could have
changed; equal versions mean the full answer need not be read again. Each function answers for
MANY targets at once, so one check after a commit costs one query per kind of target, whatever
the number of waiters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, select

from . import tables as t

_CHUNK = 500  # ids per IN (...): well under SQLite's and PostgreSQL's parameter limits


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ids = list(ids)
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def message_versions(tx: Connection, message_ids: Iterable[str]) -> dict[str, Any]:
    """{message id: approval_status}: the only column a long-poll on one message's approval reads
    to decide it is done. A message that does not exist is absent."""
    m = t.messages
    out: dict[str, Any] = {}
    for chunk in _chunks(message_ids):
        for mid, status in tx.execute(select(m.c.id, m.c.approval_status).where(m.c.id.in_(chunk))):
            out[mid] = status
    return out


def thread_versions(tx: Connection, thread_ids: Iterable[str]) -> dict[str, Any]:
    """{thread id: (messages, messages with a decision, newest seq)}: a thread's long-poll is done
    on a new message or a decision, and both change this triple."""
    m = t.messages
    out: dict[str, Any] = {}
    for chunk in _chunks(thread_ids):
        q = (select(m.c.thread_id, func.count(), func.count(m.c.decision), func.max(m.c.seq))
             .where(m.c.thread_id.in_(chunk)).group_by(m.c.thread_id))
        for tid, count, decided, newest in tx.execute(q):
            out[tid] = (count, decided, newest)
    return out


def pending_version(tx: Connection, *, mailbox_id: str | None, addresses: Iterable[str] | None,
                    flow_run_id: str | None) -> tuple[int, Any]:
    """(messages pending approval, newest pending seq) in a scope: a new held message raises the
    newest seq, a decision lowers the count, so any change of the pending list changes it.
    The scope is one mailbox, the mailboxes with these addresses (a key's scope, including
    mailboxes created later), or everything; optionally one Prefect flow run's messages."""
    m = t.messages
    q = select(func.count(), func.max(m.c.seq)).where(m.c.approval_status == "pending")
    if mailbox_id is not None:
        q = q.where(m.c.mailbox_id == mailbox_id)
    elif addresses is not None:
        q = q.where(m.c.mailbox_id.in_(select(t.mailboxes.c.id).where(t.mailboxes.c.address.in_(list(addresses)))))
    if flow_run_id is not None:
        q = q.where(m.c.flow_run_id == flow_run_id)
    count, newest = tx.execute(q).one()
    return count, newest
