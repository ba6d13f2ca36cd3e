"""Audit rows are written in the same transaction as the change they record: a change that fails
at its last step leaves neither the change nor its audit row (nor its event) behind."""

from __future__ import annotations

import pytest

from multimail_server.core.errors import Forbidden, NotFound
from multimail_server.services import approvals, delivery, sending
from multimail_server.services.delivery import DeliveryWorker
from multimail_server.store import tables as t


class Boom(RuntimeError):
    pass


def fail_after_recording(monkeypatch, module):
    """Make `module.record` write its audit + event rows and then fail, as a crash at the very end
    of the transaction would."""
    real = module.record
    calls = []

    def record_then_fail(tx, **kw):
        real(tx, **kw)
        calls.append(kw["action"])
        raise Boom(kw["action"])

    monkeypatch.setattr(module, "record", record_then_fail)
    return calls


def test_a_send_and_an_approval_are_audited_with_actor_mailbox_and_mode(ctx, clock, new_mailbox, principal_for, db):
    box = new_mailbox(oversight_mode="gated_send")
    agent, approver = principal_for("agent", [box]), principal_for("approver", [box])
    sent = sending.send_email(ctx, principal=agent, sender=box, to="x@partner.test", subject="s", body="b")
    [audit] = db.rows(t.audit_events, action="message.send")
    assert audit["actor_key_id"] == agent.key_id and audit["actor_role"] == "agent"
    assert audit["mailbox_address"] == box and audit["message_id"] == sent["message_id"]
    assert (audit["oversight_mode"], audit["approval_status"]) == ("gated_send", "pending")
    assert audit["at"] == ctx.now()
    assert [e["type"] for e in db.rows(t.events, message_id=sent["message_id"])] == ["message.pending"]

    clock.advance(minutes=3)
    approvals.approve_message(ctx, principal=approver, message_id=sent["message_id"], note="fine")
    [approved] = db.rows(t.audit_events, action="message.approved")
    assert approved["actor_key_id"] == approver.key_id and approved["actor_role"] == "approver"
    assert approved["approval_status"] == "approved" and approved["at"] == ctx.now()
    assert approved["details"]["note"] == "fine"


def test_a_send_that_fails_at_the_end_leaves_nothing(ctx, monkeypatch, new_mailbox, principal_for, db):
    box = new_mailbox(oversight_mode="gated_send")
    agent = principal_for("agent", [box])
    before = db.snapshot()
    calls = fail_after_recording(monkeypatch, sending)
    with pytest.raises(Boom):
        sending.send_email(ctx, principal=agent, sender=box, to="x@partner.test", subject="s", body="b", idempotency_key="k")
    assert calls == ["message.send"]  # the audit row was written, then the transaction failed
    assert db.snapshot() == before  # no message, thread, idempotency slot, audit row or event
    monkeypatch.undo()
    # The failed attempt did not keep the slot: the retry creates the message.
    retry = sending.send_email(ctx, principal=agent, sender=box, to="x@partner.test", subject="s", body="b", idempotency_key="k")
    assert retry["duplicate"] is False
    assert db.count(t.audit_events, action="message.send", message_id=retry["message_id"]) == 1


def test_an_approval_that_fails_at_the_end_leaves_the_message_pending(ctx, monkeypatch, new_mailbox, principal_for, db):
    box = new_mailbox(oversight_mode="gated_send")
    agent, approver = principal_for("agent", [box]), principal_for("approver", [box])
    mid = sending.send_email(ctx, principal=agent, sender=box, to="x@partner.test", subject="s", body="b")["message_id"]
    before = db.snapshot()
    fail_after_recording(monkeypatch, approvals)
    with pytest.raises(Boom):
        approvals.approve_message(ctx, principal=approver, message_id=mid, subject="edited")
    assert db.snapshot() == before
    [row] = db.rows(t.messages, id=mid)
    assert (row["status"], row["approval_status"], row["subject"]) == ("pending", "pending", "s")
    assert db.count(t.outbox, message_id=mid) == 0


def test_a_delivery_that_fails_at_the_end_captures_nothing(ctx, monkeypatch, new_mailbox, operator, db):
    box = new_mailbox(oversight_mode="autonomous")
    mid = sending.send_email(ctx, principal=operator, sender=box, to="x@partner.test", subject="s", body="b")["message_id"]
    fail_after_recording(monkeypatch, delivery)
    assert DeliveryWorker(ctx).run_once() == 1  # the row's error is caught and the row retried later
    [row] = db.rows(t.messages, id=mid)
    assert row["status"] == "queued" and row["sent_at"] is None
    assert db.count(t.captured_mail) == 0
    assert db.count(t.audit_events, action="message.sent") == 0
    assert db.count(t.events, type="message.sent") == 0


def test_refused_requests_write_nothing(ctx, new_mailbox, principal_for, db):
    box = new_mailbox(oversight_mode="gated_send")
    agent = principal_for("agent", [box])
    mid = sending.send_email(ctx, principal=agent, sender=box, to="x@partner.test", subject="s", body="b")["message_id"]
    elsewhere = principal_for("approver", [new_mailbox()])  # keys name mailboxes that exist
    before = db.snapshot()
    with pytest.raises(Forbidden):
        approvals.approve_message(ctx, principal=agent, message_id=mid)  # an agent never approves
    with pytest.raises(NotFound):
        approvals.reject_message(ctx, principal=elsewhere, message_id=mid)
    with pytest.raises(NotFound):
        sending.send_email(ctx, principal=agent, sender="nobody@acme.test", to="x@partner.test", subject="s", body="b")
    assert db.snapshot() == before
    [row] = db.rows(t.messages, id=mid)
    assert row["approval_status"] == "pending"
