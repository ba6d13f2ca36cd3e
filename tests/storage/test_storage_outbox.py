"""The outbox: leases, retries, withdrawal, and several claimers/workers sharing one database."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import func, select

from multimail_server.config import Settings
from multimail_server.services import Context, sending
from multimail_server.services.delivery import DeliveryWorker
from multimail_server.store import open_store
from multimail_server.store import outbox as outbox_q
from multimail_server.store import tables as t


def queued(ctx, principal, box: str, n: int, to: str = "x@partner.test") -> list[str]:
    return [
        sending.send_email(ctx, principal=principal, sender=box, to=to, subject=f"m{i}", body=f"body {i}")["message_id"]
        for i in range(n)
    ]


def claim(store, now, lease: int = 60, limit: int = 10) -> list[dict]:
    with store.write() as tx:
        return outbox_q.claim_due(tx, now, lease_seconds=lease, limit=limit)


def test_a_claimed_row_is_claimed_again_only_after_its_lease_expires(ctx, store, clock, new_mailbox, operator, db):
    box = new_mailbox(oversight_mode="autonomous")
    [mid] = queued(ctx, operator, box, 1)
    t0 = ctx.now()

    [row] = claim(store, t0, lease=60)
    assert (row["message_id"], row["attempts"]) == (mid, 1)
    assert claim(store, t0) == []
    assert claim(store, t0 + timedelta(seconds=59)) == []  # a live lease is respected
    [again] = claim(store, t0 + timedelta(seconds=60))  # the worker died: the row is taken over
    assert (again["seq"], again["attempts"]) == (row["seq"], 2)
    [stored] = db.rows(t.outbox, message_id=mid)
    assert stored["locked_until"] == t0 + timedelta(seconds=120)

    with store.write() as tx:
        outbox_q.finish(tx, again["seq"], state="done", now=t0)
    assert claim(store, t0 + timedelta(days=1)) == []  # done is done, leases or not


def test_retry_later_waits_until_the_next_attempt(ctx, store, new_mailbox, operator):
    box = new_mailbox(oversight_mode="autonomous")
    queued(ctx, operator, box, 1)
    t0 = ctx.now()
    [row] = claim(store, t0)
    with store.write() as tx:
        outbox_q.retry_later(tx, row["seq"], at=t0 + timedelta(seconds=30), now=t0, error="421 try later")
    assert claim(store, t0 + timedelta(seconds=29)) == []
    [again] = claim(store, t0 + timedelta(seconds=30))
    assert again["attempts"] == 2 and again["last_error"] == "421 try later"


def test_withdraw_only_before_a_worker_started(ctx, store, new_mailbox, operator, db):
    box = new_mailbox(oversight_mode="autonomous")
    first, second = queued(ctx, operator, box, 2)
    t0 = ctx.now()
    with store.write() as tx:
        assert outbox_q.withdraw(tx, first, t0) is True
    claimed = claim(store, t0)
    assert [r["message_id"] for r in claimed] == [second]  # the withdrawn row is never claimed
    with store.write() as tx:
        assert outbox_q.withdraw(tx, second, t0) is False  # a worker has it: too late
    assert {r["message_id"]: r["state"] for r in db.rows(t.outbox)} == {first: "cancelled", second: "ready"}


def test_concurrent_claimers_never_get_the_same_row(ctx, db_url, new_mailbox, operator, db):
    """Four claimers, each with its own engine (as separate processes would have), drain 60 rows
    while holding their transaction open a moment; on PostgreSQL this is what FOR UPDATE SKIP
    LOCKED is for, on SQLite BEGIN IMMEDIATE serialises them."""
    box = new_mailbox(oversight_mode="autonomous")
    ids = queued(ctx, operator, box, 60)
    now = ctx.now()
    stores = [open_store(db_url, migrate=False) for _ in range(4)]
    barrier = threading.Barrier(len(stores))

    def drain(store) -> list[int]:
        got = []
        barrier.wait()
        while True:
            with store.write() as tx:
                rows = outbox_q.claim_due(tx, now, lease_seconds=300, limit=3)
                time.sleep(0.005)  # keep the claim's transaction open while others try
            if not rows:
                return got
            got += [r["seq"] for r in rows]

    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            per_claimer = list(pool.map(drain, stores))
    finally:
        for s in stores:
            s.dispose()
    claimed = Counter(seq for seqs in per_claimer for seq in seqs)
    assert [seq for seq, n in claimed.items() if n > 1] == [], "a row was claimed twice"
    with db.store.read() as tx:
        all_seqs = {r[0] for r in tx.execute(select(t.outbox.c.seq).where(t.outbox.c.message_id.in_(ids)))}
    assert set(claimed) == all_seqs
    assert all(r["attempts"] == 1 for r in db.rows(t.outbox))


def test_two_delivery_workers_on_one_database_deliver_each_message_once(ctx, db_url, new_mailbox, operator, db, tmp_path):
    sender = new_mailbox(oversight_mode="autonomous")
    local = new_mailbox(oversight_mode="autonomous")
    ids = queued(ctx, operator, sender, 30, to=[local, "remote@partner.test"])
    settings = Settings(data_dir=tmp_path)
    workers = [DeliveryWorker(Context(store=open_store(db_url, migrate=False), settings=settings)) for _ in range(2)]
    barrier = threading.Barrier(len(workers))
    done: list[int] = []

    def work(worker) -> int:
        barrier.wait()
        n = 0
        while (k := worker.run_once(limit=2)) > 0:
            n += k
        done.append(n)
        return n

    try:
        with ThreadPoolExecutor(len(workers)) as pool:
            list(pool.map(work, workers))
    finally:
        for w in workers:
            w.ctx.store.dispose()
    assert sum(done) == len(ids)
    for mid in ids:
        [msg] = db.rows(t.messages, id=mid)
        assert msg["status"] == "sent", msg
        assert db.count(t.captured_mail, message_id=mid) == 1
        assert db.count(t.audit_events, message_id=mid, action="message.sent") == 1
        assert db.count(t.events, message_id=mid, type="message.sent") == 1
    local_box = {m["id"] for m in db.rows(t.mailboxes) if m["address"] == local}
    inbound = [m for m in db.rows(t.messages, direction="inbound") if m["mailbox_id"] in local_box]
    assert len(inbound) == len(ids)  # one local copy per message
    assert {r["state"] for r in db.rows(t.outbox)} == {"done"}


def test_a_delivery_that_outlives_its_lease_is_not_repeated(pg_url, tmp_path):
    """Worker A claims a row and is slow inside the transport (as a slow SMTP relay would be);
    its lease expires and worker B takes the row over and delivers it. When A finally finishes,
    the message must still have gone out once."""
    from multimail_server.core.access import Principal
    from multimail_server.services import mailboxes as mailbox_svc

    settings = Settings(data_dir=tmp_path, delivery_lease_seconds=60)
    store_a, store_b = open_store(pg_url), open_store(pg_url, migrate=False)
    t0 = datetime.now(UTC)
    ctx_a = Context(store=store_a, settings=settings, clock=lambda: t0)
    ctx_b = Context(store=store_b, settings=settings, clock=lambda: t0 + timedelta(seconds=61))
    op = Principal.local_operator()
    box = f"slow-{secrets.token_hex(4)}@acme.test"
    mailbox_svc.create_mailbox(ctx_a, principal=op, address=box, oversight_mode="autonomous")
    mid = sending.send_email(ctx_a, principal=op, sender=box, to="x@partner.test", subject="s", body="b")["message_id"]

    worker_a, worker_b = DeliveryWorker(ctx_a), DeliveryWorker(ctx_b)
    a_inside, b_done = threading.Event(), threading.Event()
    real_deliver = worker_a.transport.deliver

    def slow_deliver(tx, **kw):
        a_inside.set()
        b_done.wait(timeout=3)  # B can finish first unless A's transaction holds it off
        return real_deliver(tx, **kw)

    worker_a.transport.deliver = slow_deliver
    try:
        with ThreadPoolExecutor(2) as pool:
            fa = pool.submit(worker_a.run_once)
            assert a_inside.wait(timeout=10)

            def run_b():
                try:
                    return worker_b.run_once()
                finally:
                    b_done.set()

            fb = pool.submit(run_b)
            fa.result(timeout=20), fb.result(timeout=20)
        with store_a.read() as tx:
            captured = tx.execute(select(func.count()).select_from(t.captured_mail).where(t.captured_mail.c.message_id == mid)).scalar_one()
            sent = tx.execute(select(func.count()).select_from(t.audit_events).where(
                t.audit_events.c.message_id == mid, t.audit_events.c.action == "message.sent")).scalar_one()
        assert (captured, sent) == (1, 1)
    finally:
        store_a.dispose()
        store_b.dispose()
