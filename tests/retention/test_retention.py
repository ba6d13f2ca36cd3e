"""Retention (services/retention.py): the purge job removes bodies, raw bytes and attachments past a
mailbox's windows, marks what it purged, answers reads with "purged on ...", never touches held
mail or a thread awaiting a decision, leaves the audit trail verifiable, and is idempotent; a
deleted mailbox takes its raw bytes with it."""

from __future__ import annotations

import pytest

from multimail_server.core.errors import BadRequest, Gone
from multimail_server.services import audit_chain, reading, sending
from multimail_server.services import mailboxes as mailbox_svc
from multimail_server.services.retention import collect_garbage, purge_due
from multimail_server.store import blobs
from multimail_server.store import tables as t


def _inbound(db, subject: str) -> dict:
    [row] = [m for m in db.rows(t.messages, direction="inbound") if m["subject"] == subject]
    return row


def _blob_names(ctx) -> set[str]:
    store = blobs.for_engine(ctx.store.engine)
    return {name for name, _ in store.listing()} if store else set()


def _assert_raw_kept_only_for_the_senders_copy(ctx, db, inbound: dict, subject: str) -> None:
    """After the received copy let go of its raw bytes: they stay exactly while the sender's own
    copy names them. With a blob store every copy is kept by hash, and the one composition is
    what went out and what arrived (the same bytes, one row); in the database the sender's copy
    keeps its bytes on its own row, and the shared row goes."""
    [sent] = [m for m in db.rows(t.messages, direction="outbound") if m["subject"] == subject]
    if blobs.for_engine(ctx.store.engine) is not None:
        assert sent["raw_sha256"] == inbound["raw_sha256"]
        assert db.count(t.raw_blobs, sha256=inbound["raw_sha256"]) == 1
    else:
        assert sent["raw"] is not None
        assert db.count(t.raw_blobs, sha256=inbound["raw_sha256"]) == 0


def test_bodies_and_raw_bytes_past_the_window_are_purged_and_reads_say_so(ctx, clock, operator, new_mailbox, deliver, db):
    sender = new_mailbox(oversight_mode="autonomous")
    box = new_mailbox(oversight_mode="autonomous", retain_bodies_days=30)
    from multimail_server.services import webhooks

    webhooks.create_webhook(ctx, principal=operator, url="http://127.0.0.1:9/hook", events=["message.received"], mailbox=box)
    deliver(sender, box, subject="Old news", body="The secret plan.")
    inbound = _inbound(db, "Old news")
    reply_id = deliver(box, sender, subject="My answer", body="Agreed.")
    assert purge_due(ctx) == 0  # nothing is 30 days old yet
    found = lambda words: [m["message_id"] for m in reading.check_inbox(ctx, principal=operator, mailbox=box, query=words)["messages"]]
    assert found("secret plan") == [inbound["id"]]

    clock.advance(days=31)
    assert purge_due(ctx) == 2  # the received message and the sent one
    assert purge_due(ctx) == 0  # idempotent: a second pass (or a restarted worker) finds nothing

    view = reading.read_email(ctx, principal=operator, message_id=inbound["id"])
    assert view["body"].startswith(f"[Content purged on {clock.now.date().isoformat()}") and "secret" not in view["body"]
    assert view["html"] is None and view["subject"] == "Old news" and view["from"] == inbound["from_addr"]
    # The full-text index follows the body: its words are not found any more, its subject still is.
    assert found("secret plan") == [] and found("subject:old") == [inbound["id"]]
    for message_id in (inbound["id"], reply_id):
        with pytest.raises(Gone) as gone:
            reading.get_raw(ctx, principal=operator, message_id=message_id)
        assert gone.value.status == 410 and gone.value.code == "content_purged"
        assert gone.value.details["purged_at"].startswith(clock.now.date().isoformat())
    row = db.rows(t.messages, id=inbound["id"])[0]
    assert row["purged_at"] == clock.now and row["raw_sha256"] == inbound["raw_sha256"]  # the hash stays
    assert db.rows(t.messages, id=reply_id)[0]["raw_sha256"]  # the outbound bytes' hash is kept too
    _assert_raw_kept_only_for_the_senders_copy(ctx, db, inbound, "Old news")
    # The webhook event and its stored payload (kept for redelivery) lose the content too.
    [event] = db.rows(t.events, message_id=inbound["id"], type="message.received")
    assert event["data"]["body"].startswith("[Content purged on") and event["data"]["snippet"] == ""
    [payload] = [d["payload"] for d in db.rows(t.webhook_deliveries, event_id=event["id"])]
    assert "secret plan" not in payload and "Content purged on" in payload
    # The sender's own copy (not under retention) is untouched.
    assert reading.get_raw(ctx, principal=operator, message_id=_inbound(db, "My answer")["id"])

    # The audit trail: an event per purge, nothing rewritten, the chain still verifies.
    purged = db.rows(t.audit_events, action="message.bodies_purged")
    assert {e["message_id"] for e in purged} == {inbound["id"], reply_id}
    assert audit_chain.verify(ctx)["ok"] is True


def test_gc_removes_the_purged_bytes_from_the_blob_store(ctx, clock, operator, new_mailbox, deliver, db):
    if blobs.for_engine(ctx.store.engine) is None:
        pytest.skip("bytes in the database: purged with their rows")
    sender = new_mailbox(oversight_mode="autonomous")
    box = new_mailbox(oversight_mode="autonomous", retain_bodies_days=1, retain_attachments_days=1)
    deliver(sender, box, subject="Bulky", attachments=[("big.bin", b"\x00\x01" * 5000)])
    inbound = _inbound(db, "Bulky")
    [att] = db.rows(t.attachments, message_id=inbound["id"])
    shared = _blob_names(ctx)
    assert {inbound["raw_sha256"], att["content_sha256"]} <= shared
    clock.advance(days=2)
    purge_due(ctx)
    collect_garbage(ctx)
    # The raw bytes and the attachment's are also the sender's copy's (not under retention): they stay.
    assert {inbound["raw_sha256"], att["content_sha256"]} <= _blob_names(ctx)
    # Once no message names them (the sender's mailbox deleted too), gc removes them.
    mailbox_svc.delete_mailbox(ctx, principal=operator, mailbox=sender)
    clock.advance(hours=2)  # past the grace period
    collect_garbage(ctx)
    assert not {inbound["raw_sha256"], att["content_sha256"]} & _blob_names(ctx)


def test_attachments_have_their_own_window_and_take_the_raw_bytes_with_them(ctx, clock, operator, new_mailbox, deliver, db):
    sender = new_mailbox(oversight_mode="autonomous")
    box = new_mailbox(oversight_mode="autonomous", retain_attachments_days=7)
    deliver(sender, box, subject="Invoice", body="See attached.", attachments=[("invoice.pdf", b"%PDF-1.4 ...")])
    deliver(sender, box, subject="No files", body="Just text.")
    inbound, plain = _inbound(db, "Invoice"), _inbound(db, "No files")
    [att] = reading.read_email(ctx, principal=operator, message_id=inbound["id"])["attachments"]
    clock.advance(days=8)
    assert purge_due(ctx) == 1  # only the message with an attachment

    with pytest.raises(Gone):
        reading.get_attachment(ctx, principal=operator, message_id=inbound["id"], attachment_id=att["attachment_id"])
    with pytest.raises(Gone):
        reading.attachment_by_name(ctx, principal=operator, message_id=inbound["id"], filename="invoice.pdf")
    with pytest.raises(Gone):  # the raw bytes carried the attachment
        reading.get_raw(ctx, principal=operator, message_id=inbound["id"])
    view = reading.read_email(ctx, principal=operator, message_id=inbound["id"])
    assert view["body"].strip() == "See attached."  # the body has its own (here: no) window
    assert [(a["filename"], a["size"]) for a in view["attachments"]] == [("invoice.pdf", len(b"%PDF-1.4 ..."))]
    [row] = db.rows(t.attachments, message_id=inbound["id"])
    assert row["content"] is None and row["content_sha256"]
    assert reading.get_raw(ctx, principal=operator, message_id=plain["id"])  # nothing to purge there
    assert audit_chain.verify(ctx)["ok"] is True


def test_held_mail_is_never_purged(ctx, clock, operator, new_mailbox, db):
    box = new_mailbox(oversight_mode="gated_send", retain_bodies_days=1, retain_attachments_days=1)
    held = sending.send_email(ctx, principal=operator, sender=box, to="someone@partner.test", subject="Wait for me",
                              body="Approve me first.", oversight_mode="gated_send")
    assert db.rows(t.messages, id=held["message_id"])[0]["approval_status"] == "pending"
    clock.advance(days=400)
    assert purge_due(ctx) == 0
    row = db.rows(t.messages, id=held["message_id"])[0]
    assert row["purged_at"] is None and row["body_text"] == "Approve me first."


def test_a_thread_awaiting_a_decision_keeps_its_content(ctx, clock, operator, new_mailbox, deliver, db):
    asker = new_mailbox(oversight_mode="autonomous", retain_bodies_days=1)
    human = new_mailbox(oversight_mode="autonomous")
    question = sending.decide_email(ctx, principal=operator, sender=asker, to=human, question="Ship it?", options=["yes", "no"])
    from multimail_server.services.delivery import DeliveryWorker

    while DeliveryWorker(ctx).run_once():
        pass
    clock.advance(days=3)
    assert purge_due(ctx) == 0  # open question: the asker's copy stays
    row = db.rows(t.messages, id=question["message_id"])[0]
    assert row["status"] == "sent" and row["purged_at"] is None and "Ship it?" in row["body_text"]


def test_a_message_shared_with_another_mailbox_keeps_its_bytes_for_it(ctx, clock, operator, new_mailbox, deliver, db):
    sender = new_mailbox(oversight_mode="autonomous")
    short = new_mailbox(oversight_mode="autonomous", retain_bodies_days=1)
    forever = new_mailbox(oversight_mode="autonomous")
    sending.send_email(ctx, principal=operator, sender=sender, to=[short, forever], subject="To both", body="Hi both.")
    deliver(sender, short, subject="flush")  # runs the delivery worker for both
    copies = [m for m in db.rows(t.messages, direction="inbound") if m["subject"] == "To both"]
    assert len({m["raw_sha256"] for m in copies}) == 1  # one blob for both copies
    clock.advance(days=2)
    purge_due(ctx)
    kept = next(m for m in copies if m["mailbox_id"] != db.rows(t.mailboxes, address=short)[0]["id"])
    assert reading.get_raw(ctx, principal=operator, message_id=kept["id"])
    assert db.count(t.raw_blobs, sha256=kept["raw_sha256"]) == 1


def test_deleting_a_mailbox_removes_the_raw_bytes_only_it_referenced(ctx, clock, operator, new_mailbox, deliver, db):
    sender = new_mailbox(oversight_mode="autonomous")
    box = new_mailbox(oversight_mode="autonomous")
    deliver(sender, box, subject="Goes with the mailbox", attachments=[("a.txt", b"only here")])
    inbound = _inbound(db, "Goes with the mailbox")
    mailbox_svc.delete_mailbox(ctx, principal=operator, mailbox=box)
    _assert_raw_kept_only_for_the_senders_copy(ctx, db, inbound, "Goes with the mailbox")
    if blobs.for_engine(ctx.store.engine) is not None:
        clock.advance(hours=2)  # past the grace period
        collect_garbage(ctx)
        assert inbound["raw_sha256"] in _blob_names(ctx)  # the sender's copy still names them
    assert audit_chain.verify(ctx)["ok"] is True


@pytest.mark.parametrize("value", [-1, 36501, "30", 2.5, True])
def test_a_bad_retention_setting_is_refused_and_changes_nothing(ctx, operator, new_mailbox, db, value):
    box = new_mailbox(oversight_mode="autonomous", retain_bodies_days=10)
    for field in ("retain_bodies_days", "retain_attachments_days"):
        with pytest.raises(BadRequest) as exc:
            mailbox_svc.update_mailbox(ctx, principal=operator, mailbox=box, **{field: value})
        assert exc.value.code == "invalid_field" and exc.value.details == {"field": field}
    row = db.rows(t.mailboxes, address=box)[0]
    assert (row["retain_bodies_days"], row["retain_attachments_days"]) == (10, None)


def test_zero_keeps_for_ever_and_the_change_is_audited(ctx, operator, new_mailbox, db):
    box = new_mailbox(oversight_mode="autonomous")
    view = mailbox_svc.update_mailbox(ctx, principal=operator, mailbox=box, retain_bodies_days=30, retain_attachments_days=7)
    assert (view["retain_bodies_days"], view["retain_attachments_days"]) == (30, 7)
    view = mailbox_svc.update_mailbox(ctx, principal=operator, mailbox=box, retain_bodies_days=0)
    assert (view["retain_bodies_days"], view["retain_attachments_days"]) == (None, 7)
    changes = [e["details"] for e in db.rows(t.audit_events, action="mailbox.updated")]
    assert changes[-1] == {"before": {"retain_bodies_days": 30}, "after": {"retain_bodies_days": None}}


def test_the_purge_job_works_in_batches_and_a_restart_picks_up_where_it_stopped(ctx, clock, operator, new_mailbox, deliver, db,
                                                                              db_url, blob_url):
    from multimail_server.config import Settings
    from multimail_server.services import Context
    from multimail_server.services.retention import RetentionWorker
    from multimail_server.store import open_store

    sender = new_mailbox(oversight_mode="autonomous")
    box = new_mailbox(oversight_mode="autonomous", retain_bodies_days=2)
    for n in range(5):
        deliver(sender, box, subject=f"Batch {n}")
    clock.advance(days=3)
    ctx.settings.retention_batch = 2
    assert purge_due(ctx) == 2
    # A restart: a new process's store and context; what is due is read from the database again.
    again = open_store(db_url)
    blobs.attach(again.engine, blobs.open_blob_store(blob_url))
    try:
        later = Context(store=again, settings=Settings(data_dir=ctx.settings.data_dir, retention_batch=2,
                                                        retention_poll_seconds=0.05), clock=clock)
        assert purge_due(later) == 2
        worker = RetentionWorker(later)  # the worker role's job: the rest, on its own clock
        worker.start()
        try:
            from multimail_server.testing import wait_for

            wait_for(lambda: all(m["purged_at"] for m in db.rows(t.messages, direction="inbound")
                                 if m["subject"].startswith("Batch")), what="the worker to purge the last one")
        finally:
            worker.stop()
        assert not worker.alive
    finally:
        blobs.attach(again.engine, None)
        again.dispose()
    assert len(db.rows(t.audit_events, action="message.bodies_purged")) == 5  # each purged once


def test_a_purge_never_deletes_raw_bytes_a_concurrent_receive_is_about_to_name(ctx, clock, new_mailbox, deliver, db, db_url):
    """PostgreSQL (READ COMMITTED): a receiver naming an existing raw_blobs row holds a share lock
    on it until its commit; the purge locks the rows it may delete first and decides in a later
    statement, so it sees the receiver's message and keeps the row (SQLite has one writer at a
    time, so the two never overlap there)."""
    import threading

    from sqlalchemy import text

    from multimail_server.store import messages as message_q
    from multimail_server.store import retention as retention_q
    from multimail_server.testing import wait_for

    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers")
    sender, box = new_mailbox(oversight_mode="autonomous"), new_mailbox(oversight_mode="autonomous")
    deliver(sender, box, subject="Same bytes")
    old = _inbound(db, "Same bytes")
    with ctx.store.write() as tx:  # the only message naming the bytes is purged (its row not yet dropped)
        tx.execute(t.messages.update().where(t.messages.c.id == old["id"]).values(purged_at=ctx.now(), raw=None))
    with ctx.store.read() as tx:
        raw_row = tx.execute(t.raw_blobs.select().where(t.raw_blobs.c.sha256 == old["raw_sha256"])).mappings().one()
    raw = raw_row["raw"] if raw_row["raw"] is not None else blobs.for_engine(ctx.store.engine).get(old["raw_sha256"])

    receiver_holds, purged = threading.Event(), {}
    may_commit = threading.Event()

    def receive_again():  # the same bytes arrive again, for a new message
        with ctx.store.write() as tx:
            message_q.put_raw_blob(tx, old["raw_sha256"], raw, ctx.now())
            copy = {k: v for k, v in old.items() if k != "seq"}
            copy.update(id=f"msg_again_{old['id'][-8:]}", internet_message_id="<again@partner.test>", purged_at=None)
            message_q.insert_message(tx, copy)
            receiver_holds.set()
            may_commit.wait(30)

    def purge():
        with ctx.store.write() as tx:
            purged["rows"] = retention_q.drop_unreferenced_raw(tx, [old["raw_sha256"]])

    a = threading.Thread(target=receive_again)
    a.start()
    assert receiver_holds.wait(30)
    b = threading.Thread(target=purge)
    b.start()
    def lock_waits() -> int:  # a transaction of its own each time: pg_stat_activity is read once per transaction
        with ctx.store.read() as tx:
            return tx.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                   "AND datname = current_database()")).scalar()

    wait_for(lock_waits, what="the purge to wait for the receiver's lock")
    may_commit.set()
    a.join(30)
    b.join(30)
    assert purged == {"rows": 0}
    assert db.count(t.raw_blobs, sha256=old["raw_sha256"]) == 1


def test_forwarding_a_message_whose_attachments_were_purged_is_a_clear_410(ctx, clock, operator, new_mailbox, deliver, db):
    """forward_email attaches the original's files again: once they are purged there is nothing to
    attach, so the forward is refused (410, naming when), not sent without them, and nothing is stored."""
    from multimail_server.services import forwarding

    sender = new_mailbox(oversight_mode="autonomous")
    box = new_mailbox(oversight_mode="autonomous", retain_attachments_days=7)
    deliver(sender, box, subject="Contract", body="Signed copy attached.", attachments=[("contract.pdf", b"%PDF-1.4 signed")])
    inbound = _inbound(db, "Contract")
    clock.advance(days=8)
    assert purge_due(ctx) == 1
    before = len(db.rows(t.messages))
    with pytest.raises(Gone) as gone:
        forwarding.forward_email(ctx, principal=operator, message_id=inbound["id"], to="ana@partner.test")
    assert gone.value.status == 410 and gone.value.details["message_id"] == inbound["id"]
    assert "attachments" in gone.value.message
    assert len(db.rows(t.messages)) == before
    # Likewise a body that was purged: the forward would carry only the purge notice.
    texts = new_mailbox(oversight_mode="autonomous", retain_bodies_days=7)
    deliver(sender, texts, subject="Minutes", body="What we agreed.")
    minutes = _inbound(db, "Minutes")
    clock.advance(days=8)
    assert purge_due(ctx) >= 1
    before = len(db.rows(t.messages))
    with pytest.raises(Gone) as gone:
        forwarding.forward_email(ctx, principal=operator, message_id=minutes["id"], to="ana@partner.test")
    assert "content" in gone.value.message and len(db.rows(t.messages)) == before
