"""The SMTP group commit (smtp/group_commit.py) over a real store, on both databases: a batch of
received messages shares one transaction, a message that fails to store fails alone and leaves
no row behind, and the others of its batch are stored whole (with their audit and event rows, the
audit chain intact)."""

from __future__ import annotations

from concurrent.futures import Future

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from multimail_server.config import Settings
from multimail_server.core.access import Principal
from multimail_server.services import Context, audit_chain, mailboxes
from multimail_server.services.receiving import prepare_inbound
from multimail_server.smtp.group_commit import GroupCommitter
from multimail_server.store import open_store
from multimail_server.store.tables import audit_events, events, messages, raw_blobs, threads

BOX = "agent@acme.test"


@pytest.fixture
def ctx(db_url, tmp_path):
    c = Context(store=open_store(db_url), settings=Settings(data_dir=tmp_path))
    mailboxes.create_mailbox(c, principal=Principal.local_operator(), address=BOX, oversight_mode="autonomous")
    yield c
    c.store.dispose()


def prepared(ctx, n: int, *, same_as: bytes | None = None) -> dict:
    raw = same_as or (f"From: sender{n}@partner.test\r\nTo: {BOX}\r\nSubject: batch {n}\r\n"
                      f"Message-ID: <batch-{n}@partner.test>\r\n\r\nHello {n}.\r\n").encode()
    return prepare_inbound(ctx, raw=raw, rcpt_tos=[BOX], authentication={"verified_sender": False})


def commit(ctx, items: list[dict]) -> list[Future]:
    batch = [(p, Future()) for p in items]
    committer = GroupCommitter(ctx)
    committer.commit(batch)
    assert committer.batches == 1  # one transaction for the whole batch
    return [f for _, f in batch]


def count(ctx, table, **where) -> int:
    q = select(func.count()).select_from(table)
    for col, value in where.items():
        q = q.where(table.c[col] == value)
    with ctx.store.read() as tx:
        return tx.execute(q).scalar_one()


def assert_received(ctx, n: int) -> None:
    """`n` received messages stored whole: each with its event and audit row, the chain intact."""
    assert count(ctx, messages, direction="inbound") == n
    assert count(ctx, events, type="message.received") == n
    assert count(ctx, audit_events, action="message.received") == n
    assert audit_chain.verify(ctx)["ok"] is True


def test_a_batch_is_stored_in_one_transaction(ctx):
    futures = commit(ctx, [prepared(ctx, n) for n in range(4)])
    ids = [f.result(0) for f in futures]
    assert all(len(i) == 1 for i in ids) and len({i[0] for i in ids}) == 4
    assert_received(ctx, 4)


def test_a_message_failing_in_a_batch_fails_alone_and_leaves_nothing(ctx):
    bad = prepared(ctx, 1)
    # A real failure half-way: the raw bytes are written, then the database refuses the thread
    # (its subject is NOT NULL); on PostgreSQL that aborts the whole transaction.
    bad["mail"].subject = None
    futures = commit(ctx, [prepared(ctx, 0), bad, prepared(ctx, 2)])
    assert len(futures[0].result(0)) == 1 and len(futures[2].result(0)) == 1
    with pytest.raises(IntegrityError):
        futures[1].result(0)
    assert_received(ctx, 2)
    assert count(ctx, threads) == 2
    assert count(ctx, raw_blobs) == 2  # the failed message's bytes were not kept


def test_a_batch_of_one_that_fails_stores_nothing(ctx):
    bad = prepared(ctx, 7)
    bad["mail"].subject = None
    [future] = commit(ctx, [bad])
    with pytest.raises(IntegrityError):
        future.result(0)
    assert count(ctx, messages, direction="inbound") == 0
    assert count(ctx, raw_blobs) == 0
    assert count(ctx, audit_events, action="message.received") == 0


def test_the_same_message_twice_in_one_batch_is_stored_once(ctx):
    first = prepared(ctx, 3)
    futures = commit(ctx, [first, prepared(ctx, 3, same_as=first["raw"])])
    assert len(futures[0].result(0)) == 1 and futures[1].result(0) == []
    assert count(ctx, messages, direction="inbound") == 1
