"""Cheap "did it change?" versions for long-poll targets (services/wait_hub.py).

A version is a small value that changes whenever the long-polled answer of its target could have
changed; equal versions mean the full answer need not be read again. Each function answers for
MANY targets at once, so one check after a commit costs one query per kind of target, whatever
the number of waiters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Text, cast, func, select

from . import tables as t

_CHUNK = 500  # ids per IN (...): well under SQLite's and PostgreSQL's parameter limits


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ids = list(ids)
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def _content_size(m):
    """A cheap stand-in for a message's content version: the lengths of what an approver may
    edit (subject, bodies, recipients). An edit of any of them almost always changes it; an edit
    to exactly as many characters does not, which is why the dashboard still re-reads an open
    page's version now and then (services/dashboard_queries.EDIT_CHECK_SECONDS)."""
    return (func.length(m.c.subject) + func.length(m.c.body_text) + func.coalesce(func.length(m.c.body_html), 0)
            + func.length(cast(m.c.to_addrs, Text)) + func.length(cast(m.c.cc_addrs, Text))
            + func.length(cast(m.c.bcc_addrs, Text)))


def _approvals_size(m):
    """Grows with every approval counted under N of M (and drops when an edit resets them)."""
    return func.coalesce(func.length(cast(m.c.approvals, Text)), 0)


def message_versions(tx: Connection, message_ids: Iterable[str]) -> dict[str, Any]:
    """{message id: (approval_status, approvals so far, content size)}: a decision, one more
    approval of an N-of-M message, and an edit each change it, so a waiter on one message (the
    dashboard's page of it, a flow's long-poll) is woken by all three at once. A message that
    does not exist is absent."""
    m = t.messages
    out: dict[str, Any] = {}
    for chunk in _chunks(message_ids):
        q = select(m.c.id, m.c.approval_status, _approvals_size(m), _content_size(m)).where(m.c.id.in_(chunk))
        for mid, status, approvals, size in tx.execute(q):
            out[mid] = (status, approvals, size)
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
                    flow_run_id: str | None) -> tuple[int, Any, Any, Any]:
    """(messages pending approval, newest pending seq, their approvals, their content size) in a
    scope: a new held message raises the newest seq, a decision lowers the count, a partial
    approval under N of M or an edit changes the sums, so any change of the pending list (as the
    dashboard's queue shows it) changes it.
    The scope is one mailbox, the mailboxes with these addresses (a key's scope, including
    mailboxes created later), or everything; optionally one Prefect flow run's messages."""
    m = t.messages
    q = (select(func.count(), func.max(m.c.seq), func.sum(_approvals_size(m)), func.sum(_content_size(m)))
         .where(m.c.approval_status == "pending"))
    if mailbox_id is not None:
        q = q.where(m.c.mailbox_id == mailbox_id)
    elif addresses is not None:
        q = q.where(m.c.mailbox_id.in_(select(t.mailboxes.c.id).where(t.mailboxes.c.address.in_(list(addresses)))))
    if flow_run_id is not None:
        q = q.where(m.c.flow_run_id == flow_run_id)
    count, newest, approvals, size = tx.execute(q).one()
    return count, newest, approvals, size
