"""The delivery worker over a real store: exact captured bytes, local delivery, crash safety."""

from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from sqlalchemy import select

from multimail_server.config import Settings
from multimail_server.core.access import Principal
from multimail_server.services import Context, approvals, mailboxes, reading, sending
from multimail_server.services.delivery import DeliveryWorker
from multimail_server.store import open_store
from multimail_server.store.tables import captured_mail, outbox
from tests.conftest import Clock

OP = Principal.local_operator()


@pytest.fixture
def ctx(db_url, tmp_path):
    clock = Clock()
    c = Context(store=open_store(db_url), settings=Settings(data_dir=tmp_path), clock=clock)
    c.test_clock = clock
    yield c
    c.store.dispose()


def captured(ctx, message_id):
    with ctx.store.read() as tx:
        return [dict(r) for r in tx.execute(select(captured_mail).where(captured_mail.c.message_id == message_id)).mappings()]


def test_capture_stores_the_exact_rfc5322_bytes(ctx):
    mailboxes.create_mailbox(ctx, principal=OP, address="agent@acme.test", oversight_mode="autonomous", display_name="Agent Ä")
    sent = sending.send_email(ctx, principal=OP, sender="agent@acme.test", to=["Zoë <zoe@partner.test>", "bob@partner.test"],
                              cc="carol@partner.test", bcc="audit@partner.test", subject="Überblick: Q3 ✓",
                              body="Plain text", html="<p>HTML</p>",
                              attachments=[{"filename": "r.csv", "content_type": "text/csv", "content_base64": "YSxiCjEsMgo="}])
    assert DeliveryWorker(ctx).run_once() == 1
    [cap] = captured(ctx, sent["message_id"])
    assert cap["mail_from"].startswith("agent+b_") and cap["mail_from"].endswith("@acme.test")  # VERP (services/bounces.py)
    assert sorted(cap["rcpt_tos"]) == ["audit@partner.test", "bob@partner.test", "carol@partner.test", "zoe@partner.test"]
    raw = cap["raw"]
    assert b"\r\n" in raw and b"\nBcc" not in raw and b"audit@partner.test" not in raw
    msg = message_from_bytes(raw, policy=default_policy)
    assert msg["Subject"] == "Überblick: Q3 ✓"
    assert str(msg["From"]) == "Agent Ä <agent@acme.test>"
    assert msg["Message-ID"] == f"<{sent['message_id']}@acme.test>"
    assert msg["Date"] is not None
    assert msg.get_body(("plain",)).get_content().strip() == "Plain text"
    assert msg.get_body(("html",)).get_content().strip() == "<p>HTML</p>"
    [att] = list(msg.iter_attachments())
    assert att.get_filename() == "r.csv" and att.get_payload(decode=True) == b"a,b\n1,2\n"
    view = reading.read_email(ctx, principal=OP, message_id=sent["message_id"])
    assert view["status"] == "sent" and view["sent_at"] is not None


def test_reply_headers_thread_onto_the_parent(ctx):
    mailboxes.create_mailbox(ctx, principal=OP, address="agent@acme.test", oversight_mode="autonomous")
    first = sending.send_email(ctx, principal=OP, sender="agent@acme.test", to="bob@partner.test", subject="Plan", body="v1")
    follow = sending.reply_email(ctx, principal=OP, message_id=first["message_id"], body="v2")
    DeliveryWorker(ctx).run_once()
    msg = message_from_bytes(captured(ctx, follow["message_id"])[0]["raw"], policy=default_policy)
    parent_id = f"<{first['message_id']}@acme.test>"
    assert msg["Subject"] == "Re: Plan"
    assert msg["In-Reply-To"] == parent_id and msg["References"] == parent_id
    assert follow["thread_id"] == first["thread_id"]


def test_a_worker_that_died_mid_delivery_is_taken_over_once(ctx):
    mailboxes.create_mailbox(ctx, principal=OP, address="agent@acme.test", oversight_mode="autonomous")
    sent = sending.send_email(ctx, principal=OP, sender="agent@acme.test", to="bob@partner.test", subject="s", body="b")
    from multimail_server.store import outbox as outbox_q

    with ctx.store.write() as tx:  # a worker claims the row, then its process dies
        [row] = outbox_q.claim_due(tx, ctx.now(), lease_seconds=120, limit=10)
    worker = DeliveryWorker(ctx)
    assert worker.run_once() == 0  # the lease still holds
    ctx.test_clock.now += timedelta(seconds=121)
    assert worker.run_once() == 1
    assert worker.run_once() == 0
    assert len(captured(ctx, sent["message_id"])) == 1
    with ctx.store.read() as tx:
        state = tx.execute(select(outbox.c.state, outbox.c.attempts).where(outbox.c.message_id == sent["message_id"])).one()
    assert tuple(state) == ("done", 2)


def test_held_rejected_and_cancelled_mail_never_leaves(ctx):
    mailboxes.create_mailbox(ctx, principal=OP, address="agent@acme.test", oversight_mode="gated_all")
    held = sending.send_email(ctx, principal=OP, sender="agent@acme.test", to="bob@partner.test", subject="a", body="1")
    rejected = sending.send_email(ctx, principal=OP, sender="agent@acme.test", to="bob@partner.test", subject="b", body="2")
    cancelled = sending.send_email(ctx, principal=OP, sender="agent@acme.test", to="bob@partner.test", subject="c", body="3")
    approvals.reject_message(ctx, principal=OP, message_id=rejected["message_id"])
    approvals.cancel_message(ctx, principal=OP, message_id=cancelled["message_id"])
    assert DeliveryWorker(ctx).run_once() == 0
    for m in (held, rejected, cancelled):
        assert captured(ctx, m["message_id"]) == []
    approvals.approve_message(ctx, principal=OP, message_id=held["message_id"], body="1 (edited)")
    assert DeliveryWorker(ctx).run_once() == 1
    raw = captured(ctx, held["message_id"])[0]["raw"]
    assert message_from_bytes(raw, policy=default_policy).get_content().strip() == "1 (edited)"


def test_local_delivery_between_hosted_mailboxes(ctx):
    mailboxes.create_mailbox(ctx, principal=OP, address="agent@acme.test", oversight_mode="autonomous")
    mailboxes.create_mailbox(ctx, principal=OP, address="boss@acme.test", oversight_mode="autonomous")
    sent = sending.send_email(ctx, principal=OP, sender="agent@acme.test", to=["boss@acme.test", "ext@partner.test"], subject="hello", body="hi")
    DeliveryWorker(ctx).run_once()
    [cap] = captured(ctx, sent["message_id"])
    assert cap["rcpt_tos"] == ["ext@partner.test"]  # the hosted mailbox was not sent out
    inbox = reading.check_inbox(ctx, principal=OP, mailbox="boss@acme.test")["messages"]
    assert [m["subject"] for m in inbox] == ["hello"]
    full = reading.read_email(ctx, principal=OP, message_id=inbox[0]["message_id"])
    assert full["authentication"]["verified_sender"] is True
    # Boss replies; the answer threads back into the agent's conversation.
    sending.reply_email(ctx, principal=OP, message_id=inbox[0]["message_id"], body="thanks")
    DeliveryWorker(ctx).run_once()
    thread = reading.get_thread(ctx, principal=OP, thread_id=sent["thread_id"])
    assert [(m["direction"], m["is_reply"]) for m in thread["messages"]] == [("outbound", False), ("inbound", True)]
