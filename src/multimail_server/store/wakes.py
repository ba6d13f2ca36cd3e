"""Which workers a write transaction made work for: wake topics.

Why: every commit used to wake every worker of the process (and, through NOTIFY, of every other
process). Each woken worker reads to find out whether anything is due, so under a stream of
sends the approval, webhook and Prefect-resume workers each spent a read per commit on work that
was never theirs — about a tenth of the server's CPU in `benchmarks/send_email.py`. Now the store
functions that create work for a worker mark the transaction with that worker's topic
(`mark(tx, OUTBOX)` in the outbox's enqueue, ...), and after the commit only the hooks registered
for one of the marked topics run, plus the hooks that want every commit (the long-poll hub, which
waits on any change). On PostgreSQL the topics travel in the NOTIFY payload (store/notify.py).

A missed mark costs latency, never work: every worker keeps its fallback poll.
"""

from __future__ import annotations

from sqlalchemy import Connection

OUTBOX = "outbox"  # a row of the outbox became claimable (queued, rescheduled, its mailbox resumed)
WEBHOOKS = "webhooks"  # a webhook delivery became due (a new event for a subscription, a redelivery)
FLOW_RUNS = "flow_runs"  # a Prefect flow run's wait became due to be resumed
APPROVALS = "approvals"  # a held message got (or changed) its approval deadline

_KEY = "multimail.wake_topics"


def mark(tx: Connection, topic: str) -> None:
    """Note that this transaction, once committed, has work for the workers of `topic`."""
    tx.info.setdefault(_KEY, set()).add(topic)


def take(tx: Connection) -> frozenset[str]:
    """The topics marked in this transaction, cleared (the connection's info outlives it)."""
    return frozenset(tx.info.pop(_KEY, ()))


def clear(tx: Connection) -> None:
    tx.info.pop(_KEY, None)


def encode(token: str, topics: frozenset[str]) -> str:
    """A NOTIFY payload: the sender's token, then its topics (`token:outbox,webhooks`)."""
    return f"{token}:{','.join(sorted(topics))}"


def decode(payload: str) -> tuple[str, frozenset[str] | None]:
    """(token, topics) of a payload; topics None when the payload names none (a sender of an
    earlier version: wake everyone, as it would have)."""
    token, sep, rest = payload.partition(":")
    if not sep:
        return token, None
    return token, frozenset(t for t in rest.split(",") if t)


__all__ = ["APPROVALS", "FLOW_RUNS", "OUTBOX", "WEBHOOKS", "clear", "decode", "encode", "mark", "take"]
